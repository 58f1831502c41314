// Scrambler: one inode scan dispatching directories and symlinks to their
// planners, then the journal.
#include "lib/scramble/scramble.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "lib/base/endian.h"
#include "lib/scramble/scramble_dir.h"
#include "lib/scramble/scramble_inline.h"
#include "lib/scramble/scramble_names.h"

namespace e2q::scramble {

namespace {

constexpr uint32_t kJournalMagic = 0xC03B3998;  // JBD2_MAGIC_NUMBER
constexpr uint32_t kJournalStartOffset = 28;    // journal_superblock_t.s_start

struct ScanCloser {
  void operator()(ext2_inode_scan scan) const { ext2fs_close_inode_scan(scan); }
};
using ScanPtr =
    std::unique_ptr<std::remove_pointer_t<ext2_inode_scan>, ScanCloser>;

struct JournalBlocks {
  uint64_t superblock = 0;
  std::vector<std::pair<uint64_t, uint64_t>> log;  // runs of (start, count)
};

int CollectJournalBlock(ext2_filsys, blk64_t* blocknr, e2_blkcnt_t blockcnt,
                        blk64_t, int, void* priv) {
  auto* j = static_cast<JournalBlocks*>(priv);
  if (blockcnt == 0) {
    j->superblock = *blocknr;
  } else if (blockcnt > 0) {
    if (!j->log.empty() &&
        j->log.back().first + j->log.back().second == *blocknr) {
      ++j->log.back().second;
    } else {
      j->log.emplace_back(*blocknr, 1);
    }
  }
  return 0;
}

}  // namespace

Result<std::unique_ptr<Scrambler>> Scrambler::Create(const ext4::Filesystem& fs) {
  return Create(fs.raw(), Options());
}

Result<std::unique_ptr<Scrambler>> Scrambler::Create(ext2_filsys fs,
                                                     const Options& options) {
  if (fs == nullptr || fs->blocksize == 0) {
    return Status::InvalidArgument("scramble: create: no filesystem");
  }
  std::unique_ptr<Scrambler> s(new Scrambler(fs->blocksize));
  E2Q_RETURN_IF_ERROR(s->PlanInodes(fs, options));
  if (options.zero_journal) E2Q_RETURN_IF_ERROR(s->PlanJournal(fs));
  return Result<std::unique_ptr<Scrambler>>(std::move(s));
}

Status Scrambler::PlanInodes(ext2_filsys fs, const Options& options) {
  ext2_inode_scan raw_scan = nullptr;
  errcode_t err = ext2fs_open_inode_scan(fs, 0, &raw_scan);
  if (err != 0) return ext4::FromErrcode("scramble", "open inode scan", err);
  ScanPtr scan(raw_scan);
  ext2fs_inode_scan_flags(scan.get(), EXT2_SF_SKIP_MISSING_ITABLE, 0);

  const bool have_map = ext2fs_read_inode_bitmap(fs) == 0;
  const int inode_size = EXT2_INODE_SIZE(fs->super);
  std::vector<uint8_t> buf(
      std::max<size_t>(inode_size, sizeof(ext2_inode_large)), 0);
  auto* inode = reinterpret_cast<ext2_inode_large*>(buf.data());
  InodeEditor editor(fs, &patches_);
  ScrambleContext ctx{fs,      &patches_,  &editor,
                      &stats_, &warnings_, options.htree_to_linear};
  for (;;) {
    ext2_ino_t ino = 0;
    err = ext2fs_get_next_inode_full(
        scan.get(), &ino, reinterpret_cast<ext2_inode*>(inode), inode_size);
    if (err == EXT2_ET_BAD_BLOCK_IN_INODE_TABLE ||
        err == EXT2_ET_INODE_IS_GARBAGE) {
      continue;
    }
    // An inode whose checksum fails is still returned; its names are
    // scrambled like any other (the image keeps the bad checksum unless the
    // inode itself is rewritten).
    if (err != 0 && err != EXT2_ET_INODE_CSUM_INVALID) {
      // Refusing is safer than an image that shows the names of the
      // inodes left unscanned.
      return ext4::FromErrcode("scramble", "inode scan", err);
    }
    if (ino == 0) break;
    // Unlinked but allocated inodes (orphans being deleted) are imaged too,
    // so their names are scrambled; an inode that is neither linked nor
    // allocated is left alone, as its blocks may belong to another file.
    if (inode->i_links_count == 0 &&
        !(have_map && ext2fs_test_inode_bitmap2(fs->inode_map, ino))) {
      continue;
    }
    if (ino < EXT2_FIRST_INO(fs->super) && ino != EXT2_ROOT_INO) continue;
    if (LINUX_S_ISDIR(inode->i_mode)) {
      E2Q_RETURN_IF_ERROR(ScrambleDirectory(ctx, ino, *inode));
    } else if (LINUX_S_ISLNK(inode->i_mode)) {
      E2Q_RETURN_IF_ERROR(PlanSymlink(ctx, ino, *inode));
    }
  }
  return Status::OK();
}

Status Scrambler::PlanSymlink(const ScrambleContext& ctx, ext2_ino_t ino,
                              const ext2_inode_large& inode) {
  if ((inode.i_flags & EXT4_ENCRYPT_FL) != 0) {
    ++stats_.skipped_encrypted;
    return Status::OK();
  }
  bool handled = false;
  E2Q_RETURN_IF_ERROR(ScrambleInodeSymlink(ctx, ino, inode, &handled));
  if (handled) return Status::OK();

  ext2_filsys fs = ctx.fs;
  const std::string what = "symlink " + std::to_string(ino);
  const uint64_t size = EXT2_I_SIZE(&inode);
  if (size == 0) return Status::OK();
  if (size >= fs->blocksize) {
    warnings_.push_back(what + ": target longer than a block: not scrambled");
    ++stats_.skipped_other;
    return Status::OK();
  }
  blk64_t phys = 0;
  auto* small =
      reinterpret_cast<ext2_inode*>(const_cast<ext2_inode_large*>(&inode));
  errcode_t err = ext2fs_bmap2(fs, ino, small, nullptr, 0, 0, nullptr, &phys);
  if (err != 0 || phys < fs->super->s_first_data_block ||
      phys >= ext2fs_blocks_count(fs->super) || patches_.Has(phys)) {
    warnings_.push_back(what + ": target block unusable: not scrambled");
    ++stats_.skipped_other;
    return Status::OK();
  }
  // The rest of the block after the target must read as NUL (e2fsck checks
  // strnlen); zeroing it also drops leftovers of older targets.
  std::vector<uint8_t> block(fs->blocksize, 0);
  const std::string target = ScrambledSymlinkTarget(ino, size);
  std::memcpy(block.data(), target.data(), size);
  patches_.SetBlock(phys, std::move(block));
  ++stats_.slow_symlinks;
  return Status::OK();
}

Status Scrambler::PlanJournal(ext2_filsys fs) {
  ext2_super_block* sb = fs->super;
  if (!ext2fs_has_feature_journal(sb) || sb->s_journal_inum == 0) {
    return Status::OK();  // no journal, or an external one (not imaged)
  }
  if (ext2fs_has_feature_journal_needs_recovery(sb)) {
    warnings_.push_back(
        "journal: needs recovery: its log is copied as it is "
        "and may hold names");
    return Status::OK();
  }
  JournalBlocks j;
  errcode_t err = ext2fs_block_iterate3(
      fs, sb->s_journal_inum, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
      nullptr, CollectJournalBlock, &j);
  std::vector<uint8_t> jsb(fs->blocksize, 0);
  if (err == 0 && j.superblock != 0) {
    err = io_channel_read_blk64(fs->io, j.superblock, 1, jsb.data());
  }
  // Only a journal that is provably empty (valid superblock, s_start 0) is
  // zeroed: replaying zeroed log blocks would corrupt the filesystem.
  if (err != 0 || j.superblock == 0 || LoadBE32(jsb.data()) != kJournalMagic ||
      LoadBE32(jsb.data() + kJournalStartOffset) != 0) {
    warnings_.push_back(
        "journal: not provably empty: its log is copied as it "
        "is and may hold names");
    return Status::OK();
  }
  const uint64_t nblocks = ext2fs_blocks_count(sb);
  for (const auto& [start, count] : j.log) {
    if (start >= nblocks || count > nblocks - start) continue;
    patches_.Zero(start, count);
    stats_.journal_blocks_zeroed += count;
  }
  return Status::OK();
}

}  // namespace e2q::scramble
