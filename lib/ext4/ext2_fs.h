// lib/ext4: ext2/3/4 through libext2fs -- opening a filesystem over a
// File, the inode walk, directory references, and the choice of the blocks
// an image holds.  Namespace e2q::ext4; includes only lib/base and lib/io.
//
// A move-only owner for an open ext2_filsys, opened read-only through an
// io_manager over an e2q::io::File (lib/ext4/ext2_file_io.h), so that every
// read libext2fs makes goes through the project's I/O layer (fault injection,
// snapshot read-through).  libext2fs's own headers come from libext2fs.h.
#ifndef E2Q_LIB_EXT4_EXT2_FS_H_
#define E2Q_LIB_EXT4_EXT2_FS_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/ext4/libext2fs.h"
#include "lib/io/file.h"

namespace e2q::ext4 {

// errcode_t -> Status "object: operation: error_message(code)".
Status FromErrcode(const std::string& object, const std::string& op,
                   errcode_t err);

class Filesystem {
 public:
  struct OpenOptions {
    uint64_t superblock = 0;  // 0 = primary; else a backup (-b)
    uint32_t block_size = 0;  // with `superblock` (-B); 0 = try each size
    // With superblock 0: when the primary superblock is unusable (bad
    // magic, corrupt), open through the first backup as e2fsck does, or
    // failing that the primary ignoring its inconsistencies (e2fsck's
    // "trying to load superblock despite errors"), instead of failing.
    // open_note() then says so.
    bool fall_back_to_backup = true;
  };

  // Opens the filesystem on `device` (not owned; must outlive the result)
  // read-only.  Group descriptors that fail their checksums are accepted, as
  // e2fsck does, so that damaged filesystems can still be imaged.
  static Result<std::unique_ptr<Filesystem>> Open(io::File* device,
                                                  const OpenOptions& options);
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  ext2_filsys raw() const { return fs_; }
  io::File* device() const { return device_; }
  const std::string& name() const { return device_->name(); }
  uint32_t block_size() const { return fs_->blocksize; }
  // Group descriptors spread over the disk (one block per meta group),
  // as mke2fs lays out filesystems of more than 2^32 blocks.
  bool meta_bg() const { return ext2fs_has_feature_meta_bg(fs_->super); }
  uint64_t blocks_count() const { return ext2fs_blocks_count(fs_->super); }
  // Size of the filesystem in bytes (blocks_count * block_size).
  uint64_t byte_size() const { return blocks_count() * block_size(); }
  // The superblock's UUID and volume label (up to its first NUL).
  std::array<uint8_t, 16> uuid() const {
    std::array<uint8_t, 16> u;
    std::memcpy(u.data(), fs_->super->s_uuid, u.size());
    return u;
  }
  std::string label() const {
    const char* l = reinterpret_cast<const char*>(fs_->super->s_volume_name);
    return std::string(l, strnlen(l, sizeof(fs_->super->s_volume_name)));
  }
  // The block (in block_size() units) of the superblock in use: 0 for the
  // primary, else the backup given or fallen back to.
  uint64_t superblock() const { return superblock_; }
  // Non-empty when the primary superblock could not be used as is: what was
  // wrong and what was done instead.
  const std::string& open_note() const { return open_note_; }

 private:
  Filesystem(ext2_filsys fs, io::File* device) : fs_(fs), device_(device) {}
  ext2_filsys fs_;
  io::File* device_;
  uint64_t superblock_ = 0;
  std::string open_note_;
};

// Refuses a DEVICE that is mounted read-write unless `force` (-f), like
// e2image.  Regular files that are not mounted pass.
Status CheckNotMountedReadWrite(const std::string& path, bool force);

// Refuses a DEVICE that is mounted at all (read-only included), or busy
// (EXT2_MF_BUSY), before e2qimage writes to it (-R, -U).
Status CheckNotMounted(const std::string& path);

// Every block the filesystem's block bitmap marks in use (bigalloc clusters
// widened to their blocks), below blocks_count.  Reads the bitmaps.
Result<BlockSet> InUseBlocks(const Filesystem& fs);

}  // namespace e2q::ext4

#endif  // E2Q_LIB_EXT4_EXT2_FS_H_
