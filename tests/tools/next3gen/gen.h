// Shared state of the next3 generator: the live filesystem (libext2fs on a
// hooked io channel), the exclude bitmap, the snapshots taken so far and the
// copy-/move-on-write engine that every live change goes through.
// Test tooling: errors are thrown as std::runtime_error and reported by main.
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_GEN_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_GEN_H_

#include <ext2fs/ext2fs.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace n3g {

constexpr uint32_t kBlockSize = 4096;
constexpr uint64_t kShift = 1036;  // SNAPSHOT_BLOCK_OFFSET
constexpr uint32_t kBlocksPerGroup = 32768;
constexpr uint32_t kCompatExcludeInode = 0x0080;   // next3: exclude inode 9
constexpr uint32_t kCompatExcludeBitmap = 0x0100;  // ext4-snapshots: in the GDT
constexpr uint32_t kSnapFileFl = 0x01000000;
constexpr uint32_t kSnapDeletedFl = 0x04000000;
constexpr uint32_t kSnapShrunkFl = 0x08000000;
constexpr uint32_t kNoDumpFl = 0x00000040;
constexpr uint32_t kExcludeIno = 9;

using Block = std::array<uint8_t, kBlockSize>;

// Where the exclude bitmap is named (doc/next3-format.md 3.7, 9.2): the next3
// exclude inode (COMPAT 0x0080), the group descriptors' bg_exclude_bitmap
// (COMPAT 0x0100, the later ext4-snapshots forks), or both (E2-S HEAD).
enum class ExcludeAt { kInode, kGdt, kBoth };

[[noreturn]] void Die(const std::string& msg);
void Check(errcode_t err, const std::string& what);  // Die on err != 0

struct Snap {
  uint32_t id = 0;
  uint32_t ino = 0;
  uint64_t blocks = 0;       // s_blocks_count at take
  std::string name;          // GMT-YYYY.MM.DD-HH.MM.SS
  std::string state;         // active frozen deleted shrunk removed
  bool linked = true;        // still has its /.snapshots entry
  ext2_inode inode{};        // in-memory copy, written through WriteSnapInode
  // Per group: block bitmap at take & ~exclude.  Equal bitmaps share one
  // block (Gen::Intern), so a filesystem of 32768 groups costs a pointer
  // per group, not 4 KiB.
  std::vector<std::shared_ptr<const Block>> cowbm;
  bool CowBit(uint64_t b) const;
};

class Gen {
 public:
  Gen() = default;
  Gen(const Gen&) = delete;
  Gen& operator=(const Gen&) = delete;
  ~Gen() {  // the error path: the normal path closes explicitly
    if (fs) ext2fs_free(fs);
  }

  ext2_filsys fs = nullptr;
  uint64_t seed = 1;
  time_t now = 0;
  ExcludeAt exclude_at = ExcludeAt::kInode;
  uint32_t snapdir = 0;                // inode of /.snapshots
  // Live exclude bitmap, as the set of excluded blocks (few, while the
  // filesystem may have 2^32 blocks); groups changed since the last Flush.
  std::set<uint64_t> excl;
  std::set<uint32_t> excl_dirty;
  std::vector<uint64_t> exclbm_block;  // per group: exclude bitmap block
  std::set<uint64_t> exclbm_set;       // never copied, zeros in snapshots
  std::vector<Snap> snaps;             // in take order (oldest first)
  int active = -1;                     // index into snaps, -1 = none
  std::string expect_dir;

  // Random numbers: a fixed xorshift so results do not depend on the
  // standard library's distributions.
  uint64_t Rand();
  uint64_t Rand(uint64_t n) { return Rand() % n; }
  void SetTime(time_t t);

  uint64_t BlocksCount() const;
  uint32_t Groups() const;
  uint64_t BlockBitmap(uint32_t g) const;
  uint64_t InodeBitmap(uint32_t g) const;
  uint64_t InodeTableBlock(uint32_t ino) const;  // block holding the inode

  // The exclude bitmap.
  bool Excluded(uint64_t b) const { return excl.count(b) != 0; }
  void SetExcluded(uint64_t b, bool on);
  // Group g's live block bitmap as on disk, with the excluded blocks
  // cleared (a COW bitmap, doc/next3-format.md 3.5).
  Block MaskedBitmap(uint32_t g) const;
  // A shared copy of `b`, one per distinct content.
  std::shared_ptr<const Block> Intern(const Block& b);

  // Raw block access (no hook, no cache): the channel has no cache either.
  void ReadRaw(uint64_t b, void* buf) const;
  // A write through the hooked channel (gets copy-on-write like any other).
  void Write(uint64_t b, const void* buf);

  // Allocation.  AllocBlock marks a free block in use (zeroed on disk when
  // zero is true).  AllocSnapBlock also marks it excluded.
  uint64_t AllocBlock(uint64_t goal, bool zero);
  uint64_t AllocSnapBlock(uint64_t goal);
  void FreeBlock(uint64_t b);

  // The next3 hooks.
  bool Protected(uint64_t b) const;  // in active COW bitmap, not mapped
  void BeforeWrite(uint64_t off, uint64_t len, const uint8_t* data);
  // A live block is about to be freed: moved into the active snapshot when
  // protected, freed otherwise.
  void Release(uint64_t b);
  // Regular-file data block p of a file is about to be overwritten: returns
  // true when it must move into the snapshot (caller gives the file a new
  // block and then calls MoveIntoActive(p)).
  bool NeedsMove(uint64_t p) const { return Protected(p); }
  void MoveIntoActive(uint64_t b);
  // Map fs block b of snapshot s to physical block p (allocating the
  // snapshot's indirect blocks), update i_blocks and write the inode.
  void SnapMap(Snap& s, uint64_t b, uint64_t p);
  uint64_t SnapLookup(const Snap& s, uint64_t b) const;
  void WriteSnapInode(Snap& s);

  // libext2fs (mkdir, symlink, expand_dir) picks a block, writes, and marks
  // it in use only afterwards; a copy-on-write inside those writes must not
  // take the same block.  InstallAllocHooks tracks such picked blocks.
  void InstallAllocHooks();
  std::set<uint64_t> pending;

  // Writes the in-memory bitmaps and the exclude bitmap, then the superblock
  // and group descriptors.
  void Flush();

 private:
  void CowCopy(uint64_t b);
  uint64_t rng_ = 0;
  uint64_t bitmap_changes_ = 0;  // block or exclude bitmap changes
  std::set<uint64_t> writing_;   // blocks with a write in progress
  std::map<Block, std::shared_ptr<const Block>> interned_;
};

extern Gen* g_gen;  // the io manager's hook target

// The hooked io manager (image_io.cc).
io_manager HookedIoManager();
void ReadBytes(io_channel ch, uint64_t off, uint64_t len, void* data);
void WriteBytes(io_channel ch, uint64_t off, uint64_t len, const void* data);
// Opens FS-IMAGE read-write through the hooked manager.
ext2_filsys OpenFs(const std::string& path, bool force);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_GEN_H_
