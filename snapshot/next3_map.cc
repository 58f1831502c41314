// ReadSnapshotMap: the indirect tree, one level at a time (TIND, then DIND,
// then IND), each level's blocks read in physical order in large reads.
#include "snapshot/next3_map.h"

#include <algorithm>

#include "lib/base/endian.h"

namespace e2q::snapshot {

namespace {

// One read covers at most this many blocks (8 MiB) and swallows gaps of up
// to kMaxGapBlocks unwanted blocks between wanted ones.
constexpr uint64_t kMaxReadBlocks = 2048;
constexpr uint64_t kMaxGapBlocks = 16;

std::string Num(uint64_t v) { return std::to_string(v); }

// A pointer block still to read: level 1 = IND (points at data), 2 = DIND,
// 3 = TIND; `first` = the first image block it maps.
struct Node {
  uint64_t physical;
  uint64_t first;
  int level;
};

uint64_t SpanOf(int level) {
  return level == 1 ? kIndSpan : level == 2 ? kDindSpan : kTindSpan;
}

const char* LevelName(int level) {
  return level == 1 ? "IND" : level == 2 ? "DIND" : "TIND";
}

class TreeReader {
 public:
  TreeReader(io::File* device, const std::string& context,
             const MapLimits& limits)
      : device_(device), context_(context), limits_(limits) {}

  Status AddRoot(uint32_t pointer, uint64_t first, int level,
                 const std::string& slot) {
    if (pointer == 0) return Status::OK();
    E2Q_RETURN_IF_ERROR(CheckPointer(
        pointer, slot + " (" + LevelName(level) + " root) is " + Num(pointer)));
    pending_[level].push_back(Node{pointer, first, level});
    indirect_.Add(pointer);
    tree_.push_back(pointer);
    return Status::OK();
  }

  Result<SnapshotMap> Run() {
    for (int level = 3; level >= 1; --level) {
      std::vector<Node> nodes = std::move(pending_[level]);
      std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) {
        return a.physical < b.physical;
      });
      E2Q_RETURN_IF_ERROR(ReadLevel(nodes));
    }
    // Every block belongs to one place in the tree: a block named twice
    // would be shared between two image blocks or be its own ancestor.
    // Checked on physical runs (data runs and single tree blocks), so
    // memory follows the number of runs, not of blocks.
    std::vector<std::pair<uint64_t, uint64_t>> used;  // (physical, count)
    used.reserve(runs_.size() + tree_.size());
    for (const SnapshotMap::Run& r : runs_)
      used.emplace_back(r.physical, r.count);
    for (uint64_t b : tree_) used.emplace_back(b, 1);
    tree_.clear();
    tree_.shrink_to_fit();
    std::sort(used.begin(), used.end());
    for (size_t i = 1; i < used.size(); ++i) {
      if (used[i].first < used[i - 1].first + used[i - 1].second) {
        return Status::Corruption(context_ + ": block " + Num(used[i].first) +
                                  " appears twice in the block map");
      }
    }
    return SnapshotMap::FromRuns(std::move(runs_), std::move(indirect_));
  }

 private:
  Status CheckPointer(uint64_t p, const std::string& what) {
    if (p >= limits_.fs_blocks) {
      return Status::Corruption(context_ + ": " + what +
                                ", past the end of the filesystem (" +
                                Num(limits_.fs_blocks) + " blocks)");
    }
    if (limits_.reserved != nullptr && limits_.reserved->Contains(p)) {
      return Status::Corruption(
          context_ + ": " + what +
          ", a filesystem metadata block (superblock, group descriptors, "
          "bitmap or inode table)");
    }
    return Status::OK();
  }

  // Reads `nodes` (sorted by physical block) in runs and decodes each.
  Status ReadLevel(const std::vector<Node>& nodes) {
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < nodes.size();) {
      size_t j = i;
      while (j + 1 < nodes.size() &&
             nodes[j + 1].physical - nodes[i].physical < kMaxReadBlocks &&
             nodes[j + 1].physical - nodes[j].physical <= kMaxGapBlocks + 1) {
        ++j;
      }
      const uint64_t first = nodes[i].physical;
      const uint64_t count = nodes[j].physical - first + 1;
      buf.resize(count * kBlockSize);
      Status s = device_->ReadAt(first * kBlockSize, buf.data(), buf.size());
      if (!s.ok()) {
        return Status::Corruption(context_ + ": reading indirect blocks " +
                                  Num(first) + ".." + Num(first + count - 1) +
                                  ": " + s.message());
      }
      for (size_t k = i; k <= j; ++k) {
        E2Q_RETURN_IF_ERROR(Decode(
            nodes[k], buf.data() + (nodes[k].physical - first) * kBlockSize));
      }
      i = j + 1;
    }
    return Status::OK();
  }

  Status Decode(const Node& node, const uint8_t* data) {
    const uint64_t child_span = node.level == 1 ? 1 : SpanOf(node.level - 1);
    for (uint32_t i = 0; i < kAddrPerBlock; ++i) {
      const uint32_t p = LoadLE32(data + 4 * i);
      if (p == 0) continue;
      const uint64_t first = node.first + i * child_span;
      if (node.level == 1) {
        if (first >= limits_.image_blocks) {
          return Status::Corruption(context_ + ": IND block " +
                                    Num(node.physical) + " maps image block " +
                                    Num(first) + ", past the image's " +
                                    Num(limits_.image_blocks) + " blocks");
        }
        E2Q_RETURN_IF_ERROR(CheckPointer(
            p, "image block " + Num(first) + " maps to block " + Num(p)));
        // Extend the last run when this entry continues it (the usual
        // case: copies are allocated in runs).
        if (!runs_.empty()) {
          SnapshotMap::Run& last = runs_.back();
          if (last.image + last.count == first &&
              last.physical + last.count == p) {
            ++last.count;
            continue;
          }
        }
        runs_.push_back(SnapshotMap::Run{first, p, 1});
      } else {
        E2Q_RETURN_IF_ERROR(CheckPointer(
            p, std::string(LevelName(node.level)) + " block " +
                   Num(node.physical) + " entry " + Num(i) + " names " +
                   LevelName(node.level - 1) + " block " + Num(p)));
        pending_[node.level - 1].push_back(Node{p, first, node.level - 1});
        indirect_.Add(p);
        tree_.push_back(p);
      }
    }
    return Status::OK();
  }

  io::File* device_;
  const std::string& context_;
  const MapLimits& limits_;
  std::vector<Node> pending_[4];
  std::vector<SnapshotMap::Run> runs_;  // data, in the order read
  std::vector<uint64_t> tree_;          // the tree's own blocks, for dups
  BlockSet indirect_;
};

}  // namespace

SnapshotMap SnapshotMap::FromPairs(
    std::vector<std::pair<uint64_t, uint64_t>> pairs, BlockSet indirect) {
  std::vector<Run> runs;
  runs.reserve(pairs.size());
  for (const auto& [image, physical] : pairs) {
    runs.push_back(Run{image, physical, 1});
  }
  return FromRuns(std::move(runs), std::move(indirect));
}

SnapshotMap SnapshotMap::FromRuns(std::vector<Run> runs, BlockSet indirect) {
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.image < b.image; });
  SnapshotMap m;
  m.indirect_ = std::move(indirect);
  for (const Run& r : runs) {
    m.mapped_ += r.count;
    if (!m.runs_.empty()) {
      Run& last = m.runs_.back();
      if (last.image + last.count == r.image &&
          last.physical + last.count == r.physical) {
        last.count += r.count;
        continue;
      }
    }
    m.runs_.push_back(r);
  }
  m.runs_.shrink_to_fit();
  return m;
}

SnapshotMap::Lookup SnapshotMap::Find(uint64_t block) const {
  Lookup out;
  auto it =
      std::upper_bound(runs_.begin(), runs_.end(), block,
                       [](uint64_t b, const Run& r) { return b < r.image; });
  if (it != runs_.begin()) {
    const Run& r = *std::prev(it);
    if (block - r.image < r.count) {
      out.mapped = true;
      out.physical = r.physical + (block - r.image);
      out.count = r.count - (block - r.image);
      return out;
    }
  }
  out.count = it == runs_.end() ? UINT64_MAX - block : it->image - block;
  return out;
}

Result<SnapshotMap> ReadSnapshotMap(io::File* device,
                                    const std::string& context,
                                    const uint32_t (&i_block)[kNumSlots],
                                    const MapLimits& limits) {
  TreeReader reader(device, context, limits);
  E2Q_RETURN_IF_ERROR(reader.AddRoot(i_block[kDindSlot], 0, 2, "i_block[13]"));
  E2Q_RETURN_IF_ERROR(
      reader.AddRoot(i_block[kTindSlot], kDindSpan, 3, "i_block[14]"));
  for (int i = 0; i < kExtraTindSlots; ++i) {
    E2Q_RETURN_IF_ERROR(reader.AddRoot(i_block[i],
                                       kDindSpan + (i + 1) * kTindSpan, 3,
                                       "i_block[" + Num(i) + "]"));
  }
  return reader.Run();
}

}  // namespace e2q::snapshot
