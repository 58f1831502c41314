// Filesystem: opening an ext2/3/4 filesystem read-only through FileIoManager.
#include "lib/ext4/ext2_fs.h"

#include <et/com_err.h>
#include <ext2fs/ext2_err.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "lib/base/endian.h"
#include "lib/ext4/ext2_file_io.h"

namespace e2q::ext4 {

namespace {

// The flags e2image and e2fsck open damaged filesystems with: 64-bit block
// numbers, and checksum failures reported per object rather than refusing
// the whole filesystem.  Read-only opens never touch the MMP block.
constexpr int kOpenFlags = EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS;

constexpr uint32_t kMinBlockSize = 1024;
constexpr uint32_t kMaxBlockSize = 65536;

void InitErrorTables() {
  static std::once_flag once;
  std::call_once(once, [] { initialize_ext2_error_table(); });
}

// Errors that mean "this superblock is unusable", after which e2fsck tries
// a backup.
bool IsSuperblockDamage(errcode_t err) {
  return err == EXT2_ET_BAD_MAGIC || err == EXT2_ET_CORRUPT_SUPERBLOCK ||
         err == EXT2_ET_SB_CSUM_INVALID || err == EXT2_ET_UNEXPECTED_BLOCK_SIZE;
}

std::string LowerFirst(std::string s) {
  // com_err messages start with a capital; in a note they continue a
  // sentence.
  if (s.size() > 1 && s[0] >= 'A' && s[0] <= 'Z' &&
      !(s[1] >= 'A' && s[1] <= 'Z')) {
    s[0] = static_cast<char>(s[0] - 'A' + 'a');
  }
  return s;
}

errcode_t OpenAt(io::File* device, uint64_t superblock, uint32_t block_size,
                 ext2_filsys* fs, int extra_flags = 0) {
  if (superblock > INT32_MAX) return EXT2_ET_INVALID_ARGUMENT;
  FileIoRegistration reg(device, /*writable=*/false);
  return ext2fs_open2(reg.name().c_str(), nullptr, kOpenFlags | extra_flags,
                      static_cast<int>(superblock), block_size, FileIoManager(),
                      fs);
}

// EXT2_FLAG_IGNORE_SB_ERRORS (e2fsck's "trying to load superblock despite
// errors") also skips checks that keep libext2fs 1.47.0 from dividing by
// zero (a 64-bit descriptor size of 0 crashes it).  So the primary
// superblock's geometry is checked here first, and the flag is used only
// to get past the harmless inconsistencies (inode count, first_meta_bg).
bool GeometrySafeForIgnoringErrors(io::File* device) {
  uint8_t sb[SUPERBLOCK_SIZE];
  if (!device->ReadAt(SUPERBLOCK_OFFSET, sb, sizeof(sb)).ok()) return false;
  if (LoadLE16(sb + 56) != EXT2_SUPER_MAGIC) return false;
  const uint32_t log_bs = LoadLE32(sb + 24);
  const uint32_t log_cs = LoadLE32(sb + 28);
  if (log_bs > 6 || log_cs < log_bs || log_cs > log_bs + 16) return false;
  const uint64_t bs = uint64_t{kMinBlockSize} << log_bs;
  const uint64_t blocks_per_group = LoadLE32(sb + 32);
  const uint64_t inodes_per_group = LoadLE32(sb + 40);
  const uint64_t blocks = LoadLE32(sb + 4);  // low half is enough here
  const uint64_t first_data_block = LoadLE32(sb + 20);
  const uint32_t rev = LoadLE32(sb + 76);
  const uint32_t inode_size = rev == 0 ? 128 : LoadLE16(sb + 88);
  const uint32_t incompat = LoadLE32(sb + 96);
  const uint32_t desc_size =
      (incompat & EXT4_FEATURE_INCOMPAT_64BIT) ? LoadLE16(sb + 254) : 32;
  auto pow2 = [](uint64_t v) { return v != 0 && (v & (v - 1)) == 0; };
  return blocks_per_group != 0 && blocks_per_group <= 8 * bs &&
         inodes_per_group != 0 && inodes_per_group <= 8 * bs &&
         inode_size >= 128 && inode_size <= bs && pow2(inode_size) &&
         desc_size >= 32 && desc_size <= bs && pow2(desc_size) &&
         first_data_block < blocks;
}

// Where e2fsck looks for the first backup superblock when it knows nothing
// about the filesystem: group 1 of each possible block size (8 * block size
// blocks per group, the mke2fs default).  Returns false when no candidate
// carries the ext2 magic with a matching block size.
bool FindBackupSuperblock(io::File* device, uint64_t* superblock,
                          uint32_t* block_size) {
  uint8_t sb[SUPERBLOCK_SIZE];
  for (uint32_t bs = kMinBlockSize; bs <= kMaxBlockSize; bs *= 2) {
    uint64_t block = uint64_t{bs} * 8 + (bs == 1024 ? 1 : 0);
    if (!device->ReadAt(block * bs, sb, sizeof(sb)).ok()) continue;
    if (LoadLE16(sb + 56) != EXT2_SUPER_MAGIC) continue;
    uint32_t log = LoadLE32(sb + 24);
    if (log > 6 || (kMinBlockSize << log) != bs) continue;
    *superblock = block;
    *block_size = bs;
    return true;
  }
  return false;
}

}  // namespace

Status FromErrcode(const std::string& object, const std::string& op,
                   errcode_t err) {
  InitErrorTables();
  std::string msg = object + ": " + op + ": " + error_message(err);
  if (err > 0 && err < 256) {
    if (err == ENOENT) return Status::NotFound(msg);
    if (err == EINVAL) return Status::InvalidArgument(msg);
    return Status::IOError(msg);
  }
  switch (err) {
    case EXT2_ET_SHORT_READ:
    case EXT2_ET_SHORT_WRITE:
    case EXT2_ET_NO_MEMORY:
      return Status::IOError(msg);
    case EXT2_ET_UNSUPP_FEATURE:
    case EXT2_ET_RO_UNSUPP_FEATURE:
    case EXT2_ET_UNIMPLEMENTED:
      return Status::NotSupported(msg);
    case EXT2_ET_INVALID_ARGUMENT:
      return Status::InvalidArgument(msg);
    default:
      return Status::Corruption(msg);
  }
}

Result<std::unique_ptr<Filesystem>> Filesystem::Open(
    io::File* device, const OpenOptions& options) {
  ext2_filsys fs = nullptr;
  uint64_t superblock = options.superblock;
  std::string note;
  errcode_t err = 0;
  if (superblock != 0 && options.block_size == 0) {
    // Like e2fsck -b without -B: the first block size that opens wins.
    err = EXT2_ET_BAD_MAGIC;
    for (uint32_t bs = kMinBlockSize; bs <= kMaxBlockSize && err; bs *= 2) {
      err = OpenAt(device, superblock, bs, &fs);
    }
  } else {
    err = OpenAt(device, superblock, options.block_size, &fs);
  }
  if (err != 0 && superblock == 0 && options.fall_back_to_backup &&
      IsSuperblockDamage(err)) {
    uint64_t backup = 0;
    uint32_t bs = 0;
    if (FindBackupSuperblock(device, &backup, &bs)) {
      ext2_filsys backup_fs = nullptr;
      if (OpenAt(device, backup, bs, &backup_fs) == 0) {
        InitErrorTables();
        note = "primary superblock: " + LowerFirst(error_message(err)) +
               "; opened through backup superblock " + std::to_string(backup);
        fs = backup_fs;
        superblock = backup;
        err = 0;
      }
    }
  }
  if (err != 0 && options.superblock == 0 && options.fall_back_to_backup &&
      err == EXT2_ET_CORRUPT_SUPERBLOCK &&
      GeometrySafeForIgnoringErrors(device)) {
    errcode_t first_err = err;
    if (OpenAt(device, 0, 0, &fs, EXT2_FLAG_IGNORE_SB_ERRORS) == 0) {
      InitErrorTables();
      note = "primary superblock: " + LowerFirst(error_message(first_err)) +
             "; opened it ignoring superblock errors";
      superblock = 0;
      err = 0;
    }
  }
  if (err != 0) {
    std::string op = "open";
    if (superblock != 0) op += " with superblock " + std::to_string(superblock);
    return FromErrcode(device->name(), op, err);
  }
  // Bitmaps as run trees (what e2fsck uses), not flat bit arrays: a flat
  // block bitmap of a 15 TiB filesystem is 480 MiB, the tree of its
  // metadata runs a few MiB.  Every bitmap libext2fs allocates for us
  // (ext2fs_check_desc's, the block and inode bitmaps) takes this type.
  fs->default_bitmap_type = EXT2FS_BMAP64_RBTREE;
  std::unique_ptr<Filesystem> out(new Filesystem(fs, device));
  out->superblock_ = superblock;
  out->open_note_ = std::move(note);
  // Refuse geometry that later arithmetic could not survive.
  if (fs->blocksize < kMinBlockSize || fs->blocksize > kMaxBlockSize ||
      out->blocks_count() == 0 ||
      out->blocks_count() > UINT64_MAX / fs->blocksize) {
    return Status::Corruption(device->name() +
                              ": open: impossible filesystem geometry");
  }
  return out;
}

Filesystem::~Filesystem() {
  if (fs_ != nullptr) ext2fs_close_free(&fs_);
}

Status CheckNotMountedReadWrite(const std::string& path, bool force) {
  int flags = 0;
  errcode_t err = ext2fs_check_if_mounted(path.c_str(), &flags);
  if (err != 0) return FromErrcode(path, "check whether mounted", err);
  if ((flags & EXT2_MF_MOUNTED) && !(flags & EXT2_MF_READONLY) && !force) {
    return Status::InvalidArgument(
        path +
        ": refusing to image a filesystem mounted read-write: the image "
        "would be inconsistent and useless for debugging (use -f to force)");
  }
  return Status::OK();
}

Status CheckNotMounted(const std::string& path) {
  int flags = 0;
  errcode_t err = ext2fs_check_if_mounted(path.c_str(), &flags);
  if (err != 0) return FromErrcode(path, "check whether mounted", err);
  if (flags & (EXT2_MF_MOUNTED | EXT2_MF_BUSY)) {
    return Status::InvalidArgument(
        path + ": refusing to write to a mounted or busy filesystem; "
               "unmount it first");
  }
  return Status::OK();
}

Result<BlockSet> InUseBlocks(const Filesystem& fs) {
  ext2_filsys raw = fs.raw();
  if (raw->block_map == nullptr) {
    errcode_t err = ext2fs_read_block_bitmap(raw);
    if (err != 0) return FromErrcode(fs.name(), "read block bitmap", err);
  }
  BlockSet set;
  const uint64_t first = raw->super->s_first_data_block;
  const uint64_t end = ext2fs_blocks_count(raw->super);
  for (uint64_t b = 0; b < first; ++b) set.Add(b);  // boot block area
  uint64_t b = first;
  while (b < end) {
    blk64_t found = 0;
    // Next in-use block, then the next free one after it: whole runs.
    if (ext2fs_find_first_set_block_bitmap2(raw->block_map, b, end - 1,
                                            &found) != 0) {
      break;
    }
    blk64_t free_at = 0;
    uint64_t stop = end;
    if (ext2fs_find_first_zero_block_bitmap2(raw->block_map, found, end - 1,
                                             &free_at) == 0) {
      stop = free_at;
    }
    set.Add(found, stop - found);
    b = stop;
  }
  return set;
}

}  // namespace e2q::ext4
