// ForEachDirEntryInode: a minimal, bounds-checked directory block parser.
#include "lib/ext4/ext4_dir_refs.h"

#include <algorithm>

#include "lib/base/endian.h"
#include "lib/io/aligned_buffer.h"
#include "lib/io/slow_reads.h"

namespace e2q::ext4 {

namespace {

constexpr uint64_t kReadChunkBytes = 1 << 20;
// Directory runs closer than this are read together, gap included.
constexpr uint64_t kMaxGapBytes = 16 << 10;
// How far the directory pass announces its reads ahead of itself once
// they wait for the device.
constexpr uint64_t kPrefetchBytes = 8 << 20;
constexpr uint32_t kDirentHeaderSize = 8;  // inode, rec_len, name_len, type
constexpr uint32_t kMaxRecLen = 65535;     // "whole 64 KiB block"

}  // namespace

void ForEachEntryInBlock(const uint8_t* block, uint32_t block_size,
                         const std::function<void(uint32_t ino)>& on_entry) {
  uint32_t off = 0;
  while (off + kDirentHeaderSize <= block_size) {
    const uint8_t* d = block + off;
    const uint32_t ino = LoadLE32(d);
    const uint32_t raw = LoadLE16(d + 4);
    const uint32_t name_len = d[6];
    // ext2fs_get_rec_len(): the two low bits extend the length for 256 KiB
    // blocks; 0 and 65535 mean the whole block.
    const uint32_t rec_len = (raw == kMaxRecLen || raw == 0)
                                 ? block_size
                                 : (raw & 65532) | ((raw & 3) << 16);
    if (rec_len < kDirentHeaderSize || rec_len % 4 != 0 ||
        rec_len > block_size - off) {
      return;
    }
    if (ino != 0 && name_len + kDirentHeaderSize <= rec_len) on_entry(ino);
    off += rec_len;
  }
}

namespace {

// One read of the directory pass: blocks [first, end), which hold the
// directory runs runs[i] (from `first`) to runs[last].
struct Window {
  uint64_t first = 0;
  uint64_t end = 0;
  size_t i = 0;
  size_t last = 0;
};

// Cuts the runs into windows: runs[i] (from block `done` of it) and the
// following runs while the gap to them is small and the window fits
// `chunk` blocks.  Gap blocks are read and ignored; one read replaces many
// small ones.
class Windows {
 public:
  Windows(const std::vector<BlockRun>& runs, uint64_t chunk, uint64_t max_gap)
      : runs_(runs), chunk_(chunk), max_gap_(max_gap) {}

  bool Next(Window* w) {
    if (i_ >= runs_.size()) return false;
    w->i = i_;
    w->first = runs_[i_].start + done_;
    w->end = w->first + std::min(chunk_, runs_[i_].count - done_);
    w->last = i_;
    while (w->last + 1 < runs_.size() &&
           w->end == runs_[w->last].start + runs_[w->last].count &&
           runs_[w->last + 1].start - w->end <= max_gap_ &&
           runs_[w->last + 1].start + runs_[w->last + 1].count - w->first <=
               chunk_) {
      ++w->last;
      w->end = runs_[w->last].start + runs_[w->last].count;
    }
    if (w->last == i_ && w->end < runs_[i_].start + runs_[i_].count) {
      done_ = w->end - runs_[i_].start;
    } else {
      i_ = w->last + 1;
      done_ = 0;
    }
    return true;
  }

 private:
  const std::vector<BlockRun>& runs_;
  const uint64_t chunk_;
  const uint64_t max_gap_;
  size_t i_ = 0;       // next run
  uint64_t done_ = 0;  // blocks of runs_[i_] already in a window
};

}  // namespace

void ForEachDirEntryInode(io::File* device, uint32_t block_size,
                          const BlockSet& dir_blocks,
                          const std::function<void(uint32_t ino)>& on_entry,
                          std::vector<std::string>* warnings) {
  if (block_size == 0) return;
  const uint64_t chunk = std::max<uint64_t>(1, kReadChunkBytes / block_size);
  const uint64_t max_gap = kMaxGapBytes / block_size;
  const std::vector<BlockRun> runs = dir_blocks.Runs();
  // One buffer for the whole walk: a buffer grown per read costs a fresh
  // mapping and its page faults every time.  No read is longer than the
  // span of the directory blocks.
  const uint64_t span =
      runs.empty() ? 1 : runs.back().start + runs.back().count - runs[0].start;
  io::AlignedBytes buf =
      io::AllocateTouched(std::min(chunk, span) * block_size);
  Windows reads(runs, chunk, max_gap);
  // Once reads wait for the device, the windows up to kPrefetchBytes ahead
  // are announced to it, so that a cold disk works on many at a time.
  Windows ahead(runs, chunk, max_gap);
  io::SlowReads slow(device);
  io::PrefetchHints hints(device);
  uint64_t read_bytes = 0;
  uint64_t ahead_bytes = 0;
  Window w;
  while (reads.Next(&w)) {
    const uint64_t want = (w.end - w.first) * block_size;
    if (slow.active()) {
      // `ahead` yields the same windows as `reads`; ahead_bytes counts the
      // bytes of those it has passed.  Windows up to this one (prefetching
      // started late) are only passed.
      Window a;
      while (ahead_bytes < read_bytes + want + kPrefetchBytes &&
             ahead.Next(&a)) {
        const uint64_t len = (a.end - a.first) * block_size;
        if (ahead_bytes >= read_bytes + want) {
          hints.Add(a.first * block_size, len);
        }
        ahead_bytes += len;
      }
      hints.Flush();
    }
    read_bytes += want;
    uint64_t got = 0;
    const auto start = io::SlowReads::Clock::now();
    while (got < want) {
      Result<size_t> r = device->ReadSome(w.first * block_size + got,
                                          buf.get() + got, want - got);
      if (!r.ok() || *r == 0) {
        warnings->push_back("directory block " +
                            std::to_string(w.first + got / block_size) + ": " +
                            (r.ok() ? std::string("past the end of the device")
                                    : r.status().message()));
        break;
      }
      got += *r;
    }
    slow.Note(got, start);
    const uint64_t readable_end = w.first + got / block_size;
    // Parse the blocks of the window's runs that were read (a short read
    // skips the rest of the window: the unreadable blocks were reported).
    for (size_t k = w.i; k <= w.last; ++k) {
      const uint64_t from = k == w.i ? w.first : runs[k].start;
      const uint64_t to = std::min(runs[k].start + runs[k].count, w.end);
      for (uint64_t b = from; b < std::min(to, readable_end); ++b) {
        ForEachEntryInBlock(buf.get() + (b - w.first) * block_size, block_size,
                            on_entry);
      }
    }
  }
}

}  // namespace e2q::ext4
