// SkippedRefs: looks directory entries up in the scan's coverage of the
// inode tables.
#include "lib/ext4/ext4_skipped_refs.h"

#include <algorithm>
#include <thread>

#include "lib/ext4/ext4_dir_refs.h"

namespace e2q::ext4 {

namespace {

// Cuts `blocks` into `n` sets of about equal block counts, in order.
std::vector<BlockSet> SplitEvenly(const BlockSet& blocks, unsigned n) {
  std::vector<BlockSet> shares(n);
  const uint64_t per = (blocks.size() + n - 1) / n;
  size_t i = 0;
  for (const BlockRun& r : blocks.Runs()) {
    uint64_t start = r.start;
    uint64_t count = r.count;
    while (count > 0) {
      const uint64_t room = per - shares[i].size();
      const uint64_t take = std::min(count, room);
      shares[i].Add(start, take);
      start += take;
      count -= take;
      if (shares[i].size() == per && i + 1 < n) ++i;
    }
  }
  return shares;
}

}  // namespace

SkippedRefs::SkippedRefs(const Geometry& geo, std::vector<Table> tables,
                         BlockSet dirs)
    : geo_(geo),
      tables_(std::move(tables)),
      dirs_(std::move(dirs)),
      dir_runs_(dirs_.Runs()) {}

unsigned SkippedRefs::DefaultThreads() {
  return std::min(2u, std::max(1u, std::thread::hardware_concurrency()));
}

uint64_t SkippedRefs::SkippedTableBlock(uint32_t ino) const {
  if (ino == 0 || geo_.inodes_per_group == 0) return 0;
  const uint64_t g = (uint64_t{ino} - 1) / geo_.inodes_per_group;
  const uint64_t index = (uint64_t{ino} - 1) % geo_.inodes_per_group;
  if (g >= tables_.size()) return 0;
  const Table& t = tables_[g];
  if (t.table == 0 || index < t.scanned) return 0;
  const uint64_t block = index * geo_.inode_size / geo_.block_size;
  return block < t.blocks ? t.table + block : 0;
}

void SkippedRefs::Inspect(uint64_t first, uint64_t count, const uint8_t* data,
                          BlockSet* found) const {
  const uint64_t end = first + count;
  // The first directory run that ends after `first`.
  auto it = std::upper_bound(
      dir_runs_.begin(), dir_runs_.end(), first,
      [](uint64_t b, const BlockRun& r) { return b < r.start + r.count; });
  for (; it != dir_runs_.end() && it->start < end; ++it) {
    const uint64_t from = std::max(it->start, first);
    const uint64_t to = std::min(it->start + it->count, end);
    for (uint64_t b = from; b < to; ++b) {
      ForEachEntryInBlock(data + (b - first) * geo_.block_size, geo_.block_size,
                          [&](uint32_t ino) {
                            const uint64_t t = SkippedTableBlock(ino);
                            if (t != 0) found->Add(t);
                          });
    }
  }
}

void SkippedRefs::ReadAndInspect(io::File* device, const BlockSet& which,
                                 unsigned threads, BlockSet* found,
                                 std::vector<std::string>* warnings) const {
  if (which.empty()) return;
  if (threads == 0) threads = DefaultThreads();
  threads = static_cast<unsigned>(
      std::max<uint64_t>(1, std::min<uint64_t>(threads, which.size())));
  const std::vector<BlockSet> shares = SplitEvenly(which, threads);
  std::vector<BlockSet> extra(threads);
  std::vector<std::vector<std::string>> lines(threads);
  auto pass = [&](unsigned k) {
    BlockSet* into = &extra[k];
    ForEachDirEntryInode(
        device, geo_.block_size, shares[k],
        [&, into](uint32_t ino) {
          const uint64_t t = SkippedTableBlock(ino);
          if (t != 0) into->Add(t);
        },
        &lines[k]);
  };
  std::vector<std::thread> workers;
  for (unsigned k = 1; k < threads; ++k) workers.emplace_back(pass, k);
  pass(0);
  for (std::thread& w : workers) w.join();
  // In block order, as one pass would have found and reported them.
  for (unsigned k = 0; k < threads; ++k) {
    found->Add(extra[k]);
    for (std::string& w : lines[k]) warnings->push_back(std::move(w));
  }
}

BlockSet SkippedRefs::Widen(const BlockSet& found) const {
  BlockSet wide = found;
  wide.AlignTo(geo_.cluster_ratio, geo_.blocks_count);
  wide.DropBelow(geo_.first_data_block);
  return wide;
}

}  // namespace e2q::ext4
