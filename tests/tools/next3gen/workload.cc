// Scenarios (see workload.h).  A small model of the tree (which inodes are
// files, directories, symlinks and where they are linked) lets the random
// history pick valid operations; the filesystem itself is the truth.
#include "tests/tools/next3gen/workload.h"

#include <algorithm>
#include <vector>

#include "tests/tools/next3gen/blockmap.h"
#include "tests/tools/next3gen/fsops.h"
#include "tests/tools/next3gen/gen.h"
#include "tests/tools/next3gen/snapshot.h"

namespace n3g {
namespace {

constexpr long kT0 = 1700000000;
constexpr uint64_t kDind0 = 12 + 1024;                // first DIND block
constexpr uint64_t kTind0 = 12 + 1024 + 1024 * 1024;  // first TIND block

enum Type { kFile, kDir, kLink };

struct Node {
  uint32_t ino;
  uint32_t parent;
  std::string name;
  Type type;
};

class Workload {
 public:
  explicit Workload(Gen& gen) : g_(gen) {}

  void Tick() { g_.SetTime(g_.now + 7); }

  uint32_t Dir(uint32_t parent, const std::string& name, int group = -1) {
    Tick();
    uint32_t ino = MakeDir(g_, parent, name, group);
    nodes_.push_back({ino, parent, name, kDir});
    return ino;
  }
  uint32_t File(uint32_t parent, const std::string& name,
                std::vector<uint64_t> blocks, uint64_t size, int group = -1) {
    Tick();
    uint32_t ino = MakeFile(g_, parent, name, blocks, size, group);
    nodes_.push_back({ino, parent, name, kFile});
    return ino;
  }
  void Link(uint32_t parent, const std::string& name, const std::string& t) {
    Tick();
    uint32_t ino = MakeSymlink(g_, parent, name, t);
    nodes_.push_back({ino, parent, name, kLink});
  }
  std::string Name(char c) { return std::string(1, c) + std::to_string(++n_); }

  // Random choices.
  uint32_t RandomDir() {
    std::vector<uint32_t> d = {EXT2_ROOT_INO};
    for (auto& n : nodes_)
      if (n.type == kDir) d.push_back(n.ino);
    return d[g_.Rand(d.size())];
  }
  int RandomNode(Type t) {
    std::vector<int> v;
    for (size_t i = 0; i < nodes_.size(); i++)
      if (nodes_[i].type == t) v.push_back(int(i));
    return v.empty() ? -1 : v[g_.Rand(v.size())];
  }
  std::vector<uint64_t> Mapped(uint32_t ino) {
    ext2_inode in{};
    Check(ext2fs_read_inode(g_.fs, ino, &in), "read inode");
    std::vector<uint64_t> v;
    MapWalk([this](uint64_t b, void* buf) { g_.ReadRaw(b, buf); }, in,
            [&v](uint64_t l, uint64_t) { v.push_back(l); }, [](uint64_t) {});
    return v;
  }
  uint64_t Size(uint32_t ino) {
    ext2_inode in{};
    Check(ext2fs_read_inode(g_.fs, ino, &in), "read inode");
    return EXT2_I_SIZE(&in);
  }
  bool HasChildren(uint32_t ino) {
    for (auto& n : nodes_)
      if (n.parent == ino) return true;
    return false;
  }

  void RandomCreate() {
    uint32_t dir = RandomDir();
    std::vector<uint64_t> blocks;
    uint64_t size;
    uint64_t r = g_.Rand(100);
    if (r < 55) {  // direct blocks only, sometimes sparse or empty
      uint64_t n = g_.Rand(4);
      for (uint64_t i = 0; i < n; i++)
        if (g_.Rand(4)) blocks.push_back(i);
      size = n * kBlockSize - (n ? g_.Rand(kBlockSize) : 0);
    } else if (r < 85) {  // into the IND range
      uint64_t n = 13 + g_.Rand(40);
      for (uint64_t i = 0; i < n; i++) blocks.push_back(i);
      size = n * kBlockSize - g_.Rand(kBlockSize);
    } else {  // sparse, into the DIND range
      blocks = {0, kDind0 + g_.Rand(3000)};
      size = (blocks[1] + 1) * kBlockSize;
    }
    File(dir, Name('f'), blocks, size);
  }
  void RandomOverwrite() {
    int i = RandomNode(kFile);
    if (i < 0) return;
    std::vector<uint64_t> m = Mapped(nodes_[i].ino);
    if (m.empty()) return;
    std::vector<uint64_t> pick;
    uint64_t n = 1 + g_.Rand(4);
    for (uint64_t k = 0; k < n; k++) pick.push_back(m[g_.Rand(m.size())]);
    std::sort(pick.begin(), pick.end());
    pick.erase(std::unique(pick.begin(), pick.end()), pick.end());
    Tick();
    WriteBlocks(g_, nodes_[i].ino, pick, 0);
  }
  void RandomAppend() {
    int i = RandomNode(kFile);
    if (i < 0) return;
    uint64_t size = Size(nodes_[i].ino);
    uint64_t first = (size + kBlockSize - 1) / kBlockSize;
    if (first > 4000) return;
    uint64_t n = 1 + g_.Rand(20);
    std::vector<uint64_t> b;
    for (uint64_t k = 0; k < n; k++) b.push_back(first + k);
    Tick();
    WriteBlocks(g_, nodes_[i].ino, b, (first + n) * kBlockSize - g_.Rand(100));
  }
  void RandomTruncate() {
    int i = RandomNode(kFile);
    if (i < 0) return;
    uint64_t size = Size(nodes_[i].ino);
    Tick();
    TruncateFile(g_, nodes_[i].ino, size ? g_.Rand(size) : 0);
  }
  void RemoveNode(int i) {
    Node n = nodes_[i];
    nodes_.erase(nodes_.begin() + i);
    Tick();
    if (n.type == kDir)
      RemoveDir(g_, n.parent, n.name, n.ino);
    else
      RemoveFile(g_, n.parent, n.name, n.ino);
  }
  void RandomDelete() {
    int i = RandomNode(g_.Rand(4) ? kFile : kLink);
    if (i < 0) return;
    uint32_t ino = nodes_[i].ino;
    if (ino == ind_ || ino == dind_ || ino == tind_ || ino == high_ ||
        ino == xa_ || ino == xb_ || ino == low_ || ino == mid_)
      return;  // the big files stay (their inode numbers are kept)
    RemoveNode(i);
  }
  void RandomRmdir() {
    int i = RandomNode(kDir);
    if (i >= 0 && !HasChildren(nodes_[i].ino)) RemoveNode(i);
  }
  void RandomRename() {
    int i = RandomNode(g_.Rand(3) ? kFile : kLink);
    if (i < 0) return;
    Node& n = nodes_[i];
    uint32_t to = RandomDir();
    std::string name = Name('r');
    Tick();
    Rename(g_, n.parent, n.name, to, name, n.ino,
           n.type == kFile ? EXT2_FT_REG_FILE : EXT2_FT_SYMLINK);
    n.parent = to;
    n.name = name;
  }
  void RandomHardLink() {
    int i = RandomNode(kFile);
    if (i < 0) return;
    Node n = nodes_[i];
    uint32_t dir = RandomDir();
    std::string name = Name('h');
    Tick();
    AddLink(g_, dir, name, n.ino);
    nodes_.push_back({n.ino, dir, name, kFile});
  }
  void RandomSymlink() {
    std::string t = g_.Rand(2) ? "target-" + std::to_string(g_.Rand(1000))
                               : std::string(80 + g_.Rand(100), 'x') + "/end";
    Link(RandomDir(), Name('s'), t);
  }

  void Phase(int ops) {
    for (int k = 0; k < ops; k++) {
      uint64_t r = g_.Rand(100);
      if (r < 20)
        RandomCreate();
      else if (r < 45)
        RandomOverwrite();
      else if (r < 55)
        RandomAppend();
      else if (r < 63)
        RandomTruncate();
      else if (r < 73)
        RandomDelete();
      else if (r < 80)
        RandomRename();
      else if (r < 86)
        Dir(RandomDir(), Name('d'));
      else if (r < 91)
        RandomRmdir();
      else if (r < 94)
        RandomHardLink();
      else
        RandomSymlink();
    }
  }

  // The fixed population every scenario starts with: direct, IND, DIND and
  // TIND (sparse) files, fast and slow symlinks, nested directories.
  void Populate() {
    uint32_t a = Dir(EXT2_ROOT_INO, "a");
    uint32_t b = Dir(EXT2_ROOT_INO, "b");
    uint32_t deep = Dir(Dir(a, "sub"), "deep");
    File(a, "direct", {0, 1, 2}, 3 * kBlockSize - 100);
    std::vector<uint64_t> ind;
    for (uint64_t i = 0; i < 40; i++) ind.push_back(i);
    ind_ = File(a, "ind", ind, 40 * kBlockSize);
    dind_ = File(b, "dind", {0, 1, kDind0, kDind0 + 1, kDind0 + 1030},
                 (kDind0 + 1031) * kBlockSize);
    tind_ = File(b, "tind", {0, 5, kDind0 + 2, kTind0 + 3, kTind0 + 1024 * 5},
                 (kTind0 + 1024 * 5 + 1) * kBlockSize - 7);
    File(deep, "empty", {}, 0);
    File(deep, "sparse", {3}, 5 * kBlockSize);
    Link(a, "fast", "../b/dind");
    Link(b, "slow", std::string(100, 'y') + "/target");
    for (int i = 0; i < 12; i++) RandomCreate();
  }

  // Targeted changes of the big files, so their indirect blocks are
  // copied and their data blocks moved in some snapshot.
  void TouchBigFiles(int round) {
    Tick();
    switch (round % 4) {
      case 0:
        WriteBlocks(g_, tind_, {kTind0 + 3, kTind0 + 2048}, 0);
        break;
      case 1:
        WriteBlocks(g_, dind_, {1, kDind0 + 1030, kDind0 + 1500}, 0);
        TruncateFile(g_, ind_, 20 * kBlockSize + 11);
        break;
      case 2:
        TruncateFile(g_, dind_, (kDind0 + 1) * kBlockSize);
        WriteBlocks(g_, ind_, {25, 26, kDind0 + 7}, 0);
        break;
      default:
        TruncateFile(g_, tind_, (kDind0 + 3) * kBlockSize);
        break;
    }
  }

  // Huge filesystems: a file whose data lies above 2^20 blocks, so that
  // snapshots map blocks through their TIND root, and its group's bitmap
  // is copied there too.
  void PopulateHigh() {
    int last = int(g_.Groups()) - 1;
    std::vector<uint64_t> b;
    for (uint64_t i = 0; i < 30; i++) b.push_back(i);
    high_ = File(EXT2_ROOT_INO, "high", b, 30 * kBlockSize, last);
  }
  void TouchHigh(int round) {
    int last = int(g_.Groups()) - 1;
    Tick();
    WriteBlocks(g_, high_, {uint64_t(round), uint64_t(round + 7), 29}, 0, last);
    TruncateFile(g_, high_, (28 - round) * kBlockSize);
    WriteBlocks(g_, high_, {40, 41}, 0, last - 1);
  }

  // Giant filesystems (> 2^20 + 2^30 blocks): a directory whose inode,
  // directory block and files lie in the groups above block 2^20 + 2^30
  // (which snapshot files map through raw i_block[0]), plus files in a
  // group of the DIND range and one of the TIND range.  TouchGiant changes
  // all of them in every round, so each snapshot moves and copies blocks
  // under all three roots.
  void PopulateGiant() {
    uint32_t n = g_.Groups();
    uint32_t first = uint32_t(((1ull << 20) + (1ull << 30)) / kBlocksPerGroup);
    if (n < first + 3) Die("giant: need 3 groups above 2^20 + 2^30 blocks");
    top_ = Dir(EXT2_ROOT_INO, "top", int(n - 2));
    std::vector<uint64_t> b;
    for (uint64_t i = 0; i < 24; i++) b.push_back(i);
    xa_ = File(top_, "xa", b, 24 * kBlockSize, int(n - 1));
    xb_ = File(top_, "xb", {0, 1, 2, kDind0, kDind0 + 1},
               (kDind0 + 2) * kBlockSize - 5, int(first));
    b.resize(8);
    low_ = File(EXT2_ROOT_INO, "low", b, 8 * kBlockSize, 2);
    mid_ = File(EXT2_ROOT_INO, "mid", b, 8 * kBlockSize - 1, int(n / 2));
  }
  void TouchGiant(int round) {
    uint32_t n = g_.Groups();
    uint32_t first = uint32_t(((1ull << 20) + (1ull << 30)) / kBlocksPerGroup);
    uint64_t r = uint64_t(round);
    Tick();
    WriteBlocks(g_, xa_, {r, r + 5, 23}, 0, int(n - 1));  // moves
    TruncateFile(g_, xa_, (22 - r) * kBlockSize);         // frees: moves
    WriteBlocks(g_, xb_, {1, kDind0 + 1, kDind0 + 2 + r}, 0, int(first));
    // New inodes and entries in /top: its inode-table and directory
    // blocks are copied.
    File(top_, Name('x'), {0, 1}, 2 * kBlockSize - 9, int(n - 1 - r % 2));
    Dir(top_, Name('y'), int(n - 2));
    WriteBlocks(g_, low_, {r, 7}, 0, 2);
    WriteBlocks(g_, mid_, {r, 7}, 0, int(n / 2));
  }

  void TakeAt(int k) {
    g_.SetTime(kT0 + 3600L * k);
    TakeSnapshot(g_);
  }

 private:
  Gen& g_;
  std::vector<Node> nodes_;
  unsigned n_ = 0;
  uint32_t ind_ = 0, dind_ = 0, tind_ = 0, high_ = 0;
  uint32_t top_ = 0, xa_ = 0, xb_ = 0, low_ = 0, mid_ = 0;
};

void Busy(Gen& gen, int takes, bool high) {
  Workload w(gen);
  gen.SetTime(kT0 + 60);
  w.Populate();
  if (high) w.PopulateHigh();
  for (int k = 1; k <= takes; k++) {
    w.TakeAt(k);
    w.Phase(30);
    w.TouchBigFiles(k - 1);
    if (high) w.TouchHigh(k - 1);
    w.Phase(10);
  }
}

void Giant(Gen& gen) {
  Workload w(gen);
  gen.SetTime(kT0 + 60);
  w.Populate();
  w.PopulateGiant();
  for (int k = 1; k <= 3; k++) {
    w.TakeAt(k);
    w.Phase(20);
    w.TouchBigFiles(k - 1);
    w.TouchGiant(k - 1);
    w.Phase(5);
  }
}

void Deleted(Gen& gen) {
  Workload w(gen);
  gen.SetTime(kT0 + 60);
  w.Populate();
  for (int k = 1; k <= 6; k++) {
    w.TakeAt(k);
    w.Phase(25);
    w.TouchBigFiles(k - 1);
    if (k == 3) {
      // No older snapshot: removed, its file left in /.snapshots (empty,
      // SNAPFILE and SNAPFILE_DELETED, off the list), as next3 leaves it;
      // so in snapshot 4's and 5's images.
      DeleteSnapshot(gen, 1);
      CleanupSnapshot(gen, 1);
    }
    if (k == 5) {
      DeleteSnapshot(gen, 3);
      CleanupSnapshot(gen, 3);  // snapshot 2 is older: shrunk
      UnlinkSnapshot(gen, 1);   // rm of the removed file: now allowed
    }
    if (k == 6) DeleteSnapshot(gen, 4);  // deleted, not cleaned
    w.Phase(10);
  }
}

}  // namespace

bool ScenarioKnown(const std::string& name) {
  return name == "busy" || name == "deleted" || name == "huge" ||
         name == "giant";
}

unsigned long long ScenarioBlocks(const std::string& name) {
  if (name == "huge") return (1ull << 20) + 2 * 32768 + 5000;
  // 4 groups above 2^20 + 2^30 (4.0 TiB apparent).
  if (name == "giant") return (1ull << 20) + (1ull << 30) + 3 * 32768 + 5000;
  return 3 * 32768 + 5000;
}

unsigned ScenarioInodes(const std::string& name) {
  if (name == "giant") return 64;  // mke2fs's minimum: 32 per group
  return name == "huge" ? 35 * 64 : 256;
}

void RunScenario(Gen& gen, const std::string& name) {
  if (name == "busy")
    Busy(gen, 5, false);
  else if (name == "deleted")
    Deleted(gen);
  else if (name == "huge")
    Busy(gen, 3, true);
  else if (name == "giant")
    Giant(gen);
  else
    Die("unknown scenario " + name);
}

}  // namespace n3g
