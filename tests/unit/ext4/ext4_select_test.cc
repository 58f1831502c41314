// Tests for lib/ext4_select, lib/ext4_inode_walk, lib/ext4_dir_refs,
// lib/ext2_fs and lib/ext2_file_io on small filesystems that mke2fs -d
// builds at test time.  The oracle for "which blocks belong to a file" is
// libext2fs' own ext2fs_block_iterate3 on a separately opened filesystem.
#include "lib/ext4/ext4_select.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/base/endian.h"
#include "lib/ext4/ext2_file_io.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/ext4/ext4_dir_refs.h"
#include "lib/io/slow_reads.h"
#include "tests/unit/hint_log_file.h"
#include "tests/unit/shell.h"
#include "tests/unit/test_util.h"

namespace e2q::ext4 {
namespace {

namespace stdfs = std::filesystem;

const char kExt4[] =
    "-I 256 -O has_journal,extent,flex_bg,metadata_csum,64bit,dir_nlink,"
    "extra_isize,huge_file";

void Patch(const std::string& path, uint64_t offset, const void* data,
           size_t len) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(len));
}

// One block of a file, as libext2fs reports it: blockcnt < 0 for mapping
// blocks (extent tree nodes, indirect blocks).
struct FileBlock {
  blk64_t block;
  e2_blkcnt_t blockcnt;
};

// A separately opened filesystem (unix_io) used as the oracle.
class Oracle {
 public:
  explicit Oracle(const std::string& path) {
    if (ext2fs_open(path.c_str(), EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
                    &fs_)) {
      fs_ = nullptr;
    }
  }
  ~Oracle() {
    if (fs_) ext2fs_close_free(&fs_);
  }
  ext2_filsys fs() const { return fs_; }
  ext2_ino_t Lookup(const std::string& path) const {
    ext2_ino_t ino = 0;
    if (ext2fs_namei(fs_, EXT2_ROOT_INO, EXT2_ROOT_INO, path.c_str(), &ino)) {
      return 0;
    }
    return ino;
  }
  std::vector<FileBlock> Blocks(ext2_ino_t ino) const {
    std::vector<FileBlock> out;
    ext2fs_block_iterate3(
        fs_, ino, BLOCK_FLAG_READ_ONLY, nullptr,
        [](ext2_filsys, blk64_t* b, e2_blkcnt_t c, blk64_t, int, void* p) {
          static_cast<std::vector<FileBlock>*>(p)->push_back({*b, c});
          return 0;
        },
        &out);
    return out;
  }

 private:
  ext2_filsys fs_ = nullptr;
};

// Filesystems shared by the tests of this suite, built once.
class Ext4Select : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/e2q-select-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string t = dir_ + "/tree";
    stdfs::create_directories(t + "/dir");
    for (int i = 0; i < 300; ++i) {
      std::ofstream(t + "/dir/entry-number-" + std::to_string(i)) << i;
    }
    {
      std::ofstream f(t + "/small");
      f << std::string(3000, 's');
    }
    {
      // 400 one-block islands: a two-level extent tree with 1 KiB blocks.
      std::ofstream f(t + "/frag", std::ios::binary);
      for (int i = 0; i < 400; ++i) {
        f.seekp(i * 4096);
        f << std::string(1024, static_cast<char>('a' + i % 26));
      }
    }
    {
      // Reaches the double-indirect map with 1 KiB blocks.
      std::ofstream f(t + "/sparse", std::ios::binary);
      f << "head";
      f.seekp(2 << 20);
      f << "tail";
    }
    std::string long_target(200, 'x');
    stdfs::create_symlink(long_target, t + "/slowlink");
    stdfs::create_symlink("short", t + "/fastlink");
    ext4_ = dir_ + "/ext4.img";
    ext2_ = dir_ + "/ext2.img";
    ASSERT_EQ(Sh("truncate -s 16M " + ext4_ + " " + ext2_), 0);
    ASSERT_EQ(Sh("mke2fs -q -F -b 1024 " + std::string(kExt4) + " -d " + t +
                 " " + ext4_ + " >/dev/null 2>&1"),
              0);
    ASSERT_EQ(
        Sh("mke2fs -q -F -b 1024 -d " + t + " " + ext2_ + " >/dev/null 2>&1"),
        0);
  }
  static void TearDownTestSuite() { stdfs::remove_all(dir_); }

  // A private copy of `image` to damage.
  std::string Copy(const std::string& image, const std::string& name) {
    std::string path = dir_ + "/" + name;
    stdfs::copy_file(image, path, stdfs::copy_options::overwrite_existing);
    return path;
  }

  static Result<Selection> Select(const std::string& path, bool all_data,
                                  unsigned threads = 1, bool defer = false) {
    E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                         io::OpenFileForRead(path));
    E2Q_ASSIGN_OR_RETURN(std::unique_ptr<Filesystem> fs,
                         Filesystem::Open(file.get(), {}));
    SelectOptions o;
    o.all_data = all_data;
    o.threads = threads;
    o.defer_dir_refs = defer;
    return SelectBlocks(*fs, o);
  }

  static std::string dir_, ext4_, ext2_;
};

std::string Ext4Select::dir_, Ext4Select::ext4_, Ext4Select::ext2_;

// Mapping blocks of `path` are selected; data blocks only with all_data.
void ExpectMappingOnly(const std::string& image, const std::string& path,
                       const Selection& meta, const Selection& full,
                       size_t min_mapping) {
  Oracle o(image);
  ASSERT_NE(o.fs(), nullptr);
  ext2_ino_t ino = o.Lookup(path);
  ASSERT_NE(ino, 0u) << path;
  size_t mapping = 0, data = 0;
  for (const FileBlock& b : o.Blocks(ino)) {
    if (b.blockcnt < 0) {
      ++mapping;
      EXPECT_TRUE(meta.blocks.Contains(b.block)) << path << " map " << b.block;
    } else {
      ++data;
      EXPECT_FALSE(meta.blocks.Contains(b.block))
          << path << " data " << b.block;
    }
    EXPECT_TRUE(full.blocks.Contains(b.block)) << path << " " << b.block;
  }
  EXPECT_GE(mapping, min_mapping) << path;
  EXPECT_GT(data, 0u) << path;
}

void ExpectAllBlocks(const std::string& image, const std::string& path,
                     const Selection& sel) {
  Oracle o(image);
  ext2_ino_t ino = o.Lookup(path);
  ASSERT_NE(ino, 0u) << path;
  std::vector<FileBlock> blocks = o.Blocks(ino);
  EXPECT_FALSE(blocks.empty()) << path;
  for (const FileBlock& b : blocks) {
    EXPECT_TRUE(sel.blocks.Contains(b.block)) << path << " " << b.block;
  }
}

TEST_F(Ext4Select, ExtentTreeBlocksInDataOut) {
  ASSERT_OK_AND_ASSIGN(Selection meta, Select(ext4_, false));
  ASSERT_OK_AND_ASSIGN(Selection full, Select(ext4_, true));
  EXPECT_TRUE(meta.warnings.empty()) << meta.warnings[0];
  // 400 extents of 84 per 1 KiB leaf: at least 5 leaves and an index node.
  ExpectMappingOnly(ext4_, "/frag", meta, full, 6);
  ExpectAllBlocks(ext4_, "/dir", meta);
  ExpectAllBlocks(ext4_, "/slowlink", meta);
  ExpectAllBlocks(ext4_, "/", meta);
  // A depth-0 extent file contributes nothing to a metadata image.
  Oracle o(ext4_);
  for (const FileBlock& b : o.Blocks(o.Lookup("/small"))) {
    EXPECT_FALSE(meta.blocks.Contains(b.block));
    EXPECT_TRUE(full.blocks.Contains(b.block));
  }
}

TEST_F(Ext4Select, IndirectBlocksInDataOut) {
  ASSERT_OK_AND_ASSIGN(Selection meta, Select(ext2_, false));
  ASSERT_OK_AND_ASSIGN(Selection full, Select(ext2_, true));
  EXPECT_TRUE(meta.warnings.empty()) << meta.warnings[0];
  ExpectMappingOnly(ext2_, "/frag", meta, full, 2);  // ind + dind
  ExpectMappingOnly(ext2_, "/sparse", meta, full, 2);
  ExpectAllBlocks(ext2_, "/dir", meta);
  ExpectAllBlocks(ext2_, "/slowlink", meta);
}

TEST_F(Ext4Select, FixedMetadata) {
  for (const std::string& image : {ext4_, ext2_}) {
    ASSERT_OK_AND_ASSIGN(Selection meta, Select(image, false));
    ASSERT_OK_AND_ASSIGN(Selection full, Select(image, true));
    Oracle o(image);
    ext2_filsys fs = o.fs();
    EXPECT_FALSE(meta.blocks.Contains(0)) << "boot block of a 1 KiB fs";
    for (const Selection* s : {&meta, &full}) {
      EXPECT_TRUE(s->blocks.Contains(1)) << "primary superblock";
      EXPECT_TRUE(s->blocks.Contains(2)) << "primary descriptors";
      EXPECT_TRUE(s->blocks.Contains(ext2fs_block_bitmap_loc(fs, 0)));
      EXPECT_TRUE(s->blocks.Contains(ext2fs_inode_bitmap_loc(fs, 0)));
      EXPECT_TRUE(s->blocks.Contains(ext2fs_inode_table_loc(fs, 0)));
      EXPECT_FALSE(s->blocks.Contains(ext2fs_blocks_count(fs->super)));
    }
    // The backup in group 1: metadata images only (-a must equal e2image).
    EXPECT_TRUE(meta.blocks.Contains(8193));
    EXPECT_FALSE(full.blocks.Contains(8193));
    // Every journal block.
    if (fs->super->s_journal_inum) {
      for (const FileBlock& b : o.Blocks(fs->super->s_journal_inum)) {
        ASSERT_TRUE(meta.blocks.Contains(b.block)) << b.block;
      }
    }
  }
}

TEST_F(Ext4Select, ThreadsDoNotChangeTheResult) {
  ASSERT_OK_AND_ASSIGN(Selection one, Select(ext4_, false, 1));
  ASSERT_OK_AND_ASSIGN(Selection two, Select(ext4_, false, 2));
  EXPECT_EQ(one.blocks.Runs(), two.blocks.Runs());
}

// Directory entries that name inodes the scan skips (past a group's
// itable_unused) select those inodes' table blocks, however many threads
// share the directory pass.
TEST_F(Ext4Select, ReferencedSkippedInodesWhateverTheThreads) {
  // 40 directories of 20 files; mke2fs -d numbers the inodes depth first,
  // so d0 is inode 12, its files 13-32, d1 33, ...
  const std::string tree = dir_ + "/many-dirs";
  for (int d = 0; d < 40; ++d) {
    const std::string sub = tree + "/d" + std::to_string(d);
    stdfs::create_directories(sub);
    for (int f = 0; f < 20; ++f) {
      std::ofstream(sub + "/f" + std::to_string(f)) << d << f;
    }
  }
  const std::string img = dir_ + "/many-dirs.img";
  // One group (4 KiB blocks, 16 inodes of 256 bytes a block).
  ASSERT_EQ(
      Sh("truncate -s 16M " + img + " && mke2fs -q -F -b 4096 -N 2048 " +
         std::string(kExt4) + " -d " + tree + " " + img + " >/dev/null 2>&1"),
      0);
  // The group will claim that only its first 400 inodes are in use, so
  // the scan reads about half of the directories and skips the other half
  // and its files.  The skipped files, in inode order, get links from the
  // scanned directories, also in inode order (so in block order): every
  // directory block names skipped inodes, and different blocks name
  // different inode table blocks.
  std::vector<std::pair<ext2_ino_t, std::string>> scanned_dirs, skipped_files;
  {
    Oracle o(img);
    for (int d = 0; d < 40; ++d) {
      const std::string dir = "/d" + std::to_string(d);
      const ext2_ino_t dino = o.Lookup(dir);
      ASSERT_NE(dino, 0u);
      for (int f = 0; f < 20; ++f) {
        const std::string path = dir + "/f" + std::to_string(f);
        const ext2_ino_t ino = o.Lookup(path);
        ASSERT_NE(ino, 0u);
        if (dino > 400 && ino > 400) skipped_files.emplace_back(ino, path);
      }
      if (dino <= 400) scanned_dirs.emplace_back(dino, dir);
    }
  }
  std::sort(scanned_dirs.begin(), scanned_dirs.end());
  std::sort(skipped_files.begin(), skipped_files.end());
  ASSERT_GE(scanned_dirs.size(), 10u);
  ASSERT_GE(skipped_files.size(), 200u);
  const uint64_t table = [&] {
    Oracle o(img);
    return ext2fs_inode_table_loc(o.fs(), 0);
  }();
  BlockSet named;
  {
    std::ofstream cmds(dir_ + "/many-dirs.cmds");
    cmds << "set_bg 0 itable_unused " << 2048 - 400 << "\n"
         << "set_bg 0 checksum calc\n";
    const size_t per =
        (skipped_files.size() + scanned_dirs.size() - 1) / scanned_dirs.size();
    for (size_t i = 0; i < skipped_files.size(); ++i) {
      cmds << "ln " << skipped_files[i].second << " "
           << scanned_dirs[i / per].second << "/l" << i << "\n";
      named.Add(table + (skipped_files[i].first - 1) / 16);
    }
  }
  ASSERT_EQ(Sh("debugfs -w -f " + dir_ + "/many-dirs.cmds " + img +
               " >/dev/null 2>&1"),
            0);
  {
    Oracle o(img);
    ASSERT_EQ(o.fs()->group_desc_count, 1u);
    ASSERT_EQ(EXT2_INODES_PER_GROUP(o.fs()->super), 2048u);
    ASSERT_EQ(ext2fs_bg_itable_unused(o.fs(), 0), 2048u - 400);
    ASSERT_NE(o.Lookup(scanned_dirs[0].second + "/l0"), 0u);
  }
  ASSERT_GE(named.size(), 20u);
  std::vector<BlockRun> runs;
  for (unsigned threads : {1u, 2u, 3u}) {
    ASSERT_OK_AND_ASSIGN(Selection sel, Select(img, false, threads));
    for (const BlockRun& r : named.Runs()) {
      for (uint64_t b = r.start; b < r.start + r.count; ++b) {
        EXPECT_TRUE(sel.blocks.Contains(b)) << threads << " threads, " << b;
      }
    }
    if (threads == 1) {
      runs = sel.blocks.Runs();
    } else {
      EXPECT_EQ(sel.blocks.Runs(), runs) << threads;
    }
    EXPECT_EQ(sel.skipped_refs, nullptr);
  }

  // Deferred: the selection lacks those blocks and says how to find them,
  // from the directory blocks' bytes (as a copy shows them) or by reading
  // them; with them it is the selection made at once.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> file,
                       io::OpenFileForRead(img));
  for (unsigned threads : {1u, 2u}) {
    ASSERT_OK_AND_ASSIGN(Selection sel, Select(img, false, threads, true));
    ASSERT_NE(sel.skipped_refs, nullptr);
    const SkippedRefs& refs = *sel.skipped_refs;
    EXPECT_FALSE(sel.blocks.Contains(named.Runs()[0].start));
    BlockSet shown;
    for (const BlockRun& r : refs.dirs().Runs()) {
      std::vector<uint8_t> bytes(r.count * 4096);
      ASSERT_OK(file->ReadAt(r.start * 4096, bytes.data(), bytes.size()));
      refs.Inspect(r.start, r.count, bytes.data(), &shown);
    }
    // Shown a wider range than the directory blocks, it looks at those
    // only (the first block is the superblock's, full of non-entries).
    BlockSet wide;
    {
      const uint64_t end =
          refs.dirs().Runs().back().start + refs.dirs().Runs().back().count;
      std::vector<uint8_t> bytes(end * 4096);
      ASSERT_OK(file->ReadAt(0, bytes.data(), bytes.size()));
      refs.Inspect(0, end, bytes.data(), &wide);
    }
    BlockSet read;
    std::vector<std::string> warnings;
    refs.ReadAndInspect(file.get(), refs.dirs(), threads, &read, &warnings);
    EXPECT_TRUE(warnings.empty());
    for (const BlockSet* found : {&shown, &wide, &read}) {
      EXPECT_EQ(refs.Widen(*found).Runs(), named.Runs());
      BlockSet all = sel.blocks;
      all.Add(refs.Widen(*found));
      EXPECT_EQ(all.Runs(), runs) << threads;
    }
  }
}

TEST_F(Ext4Select, ZeroLinkDirectoryStillSelected) {
  std::string img = Copy(ext4_, "zero-link.img");
  ASSERT_EQ(
      Sh("debugfs -w -R 'sif /dir links_count 0' " + img + " >/dev/null 2>&1"),
      0);
  ASSERT_OK_AND_ASSIGN(Selection meta, Select(img, false));
  ExpectAllBlocks(img, "/dir", meta);
}

TEST_F(Ext4Select, DamagedExtentBlockIsAWarning) {
  std::string img = Copy(ext4_, "bad-extent.img");
  Oracle o(img);
  ext2_ino_t ino = o.Lookup("/frag");
  std::vector<FileBlock> blocks = o.Blocks(ino);
  blk64_t victim = 0;
  for (const FileBlock& b : blocks) {
    if (b.blockcnt < 0) victim = b.block;  // the last leaf
  }
  ASSERT_NE(victim, 0u);
  const uint8_t zero[2] = {0, 0};
  Patch(img, victim * 1024, zero, sizeof(zero));  // its magic

  ASSERT_OK_AND_ASSIGN(Selection full, Select(img, true));
  ASSERT_FALSE(full.warnings.empty());
  bool found = false;
  for (const std::string& w : full.warnings) {
    found |=
        w.find("inode " + std::to_string(ino)) != std::string::npos &&
        w.find(std::to_string(victim) + ": bad magic") != std::string::npos;
  }
  EXPECT_TRUE(found) << full.warnings[0];
  // The damaged node is still imaged, and so is everything else.
  EXPECT_TRUE(full.blocks.Contains(victim));
  for (const FileBlock& b : blocks) {
    if (b.blockcnt < 0) {
      EXPECT_TRUE(full.blocks.Contains(b.block));
    }
  }
  ExpectAllBlocks(img, "/dir", full);
  // e2image would have stopped here.
  EXPECT_NE(Sh("e2image -r " + img + " " + dir_ + "/e2i.raw >/dev/null 2>&1"),
            0);
}

TEST_F(Ext4Select, IndirectBlockOutsideTheFilesystemIsAWarning) {
  std::string img = Copy(ext2_, "bad-ind.img");
  ASSERT_EQ(Sh("debugfs -w -R 'sif /sparse block[DIND] 2147483647' " + img +
               " >/dev/null 2>&1"),
            0);
  ASSERT_OK_AND_ASSIGN(Selection meta, Select(img, false));
  bool found = false;
  for (const std::string& w : meta.warnings) {
    found |= w.find("double indirect block 2147483647") != std::string::npos;
  }
  EXPECT_TRUE(found);
  ExpectAllBlocks(img, "/dir", meta);
}

TEST_F(Ext4Select, ReadsThroughTheFileLayer) {
  // The same selection from an in-memory copy: every read went through
  // e2q::io::File.
  io::MemFile mem("mem.img", ReadAll(ext4_));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs,
                       Filesystem::Open(&mem, {}));
  EXPECT_EQ(fs->name(), "mem.img");
  ASSERT_OK_AND_ASSIGN(Selection from_mem, SelectBlocks(*fs, {}));
  ASSERT_OK_AND_ASSIGN(Selection from_disk, Select(ext4_, false));
  EXPECT_EQ(from_mem.blocks.Runs(), from_disk.blocks.Runs());
}

TEST_F(Ext4Select, SlowReadsAnnounceTheInodeTablesAhead) {
  // 16 groups without checksums: every group's whole table is scanned, one
  // read each.  After the first kToActivate slow reads, each read announces
  // the tables that follow it, so the hints are exactly the tables of the
  // groups after the one read when the scan turned slow, each byte once.
  const std::string path = dir_ + "/groups.img";
  ASSERT_EQ(Sh("truncate -s 16M " + path +
               " && mke2fs -q -F -b 1024 -g 1024 "
               "-N 4096 -O ^resize_inode " +
               path + " >/dev/null 2>&1"),
            0);
  const std::vector<uint8_t> data = ReadAll(path);
  io::MemFile fast("fast.img", data);
  HintLogFile slow(data, std::chrono::milliseconds(2));
  SelectOptions o;
  o.threads = 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs_fast,
                       Filesystem::Open(&fast, {}));
  ASSERT_OK_AND_ASSIGN(Selection from_fast, SelectBlocks(*fs_fast, o));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs_slow,
                       Filesystem::Open(&slow, {}));
  ASSERT_EQ(fs_slow->raw()->group_desc_count, 16u);
  ASSERT_OK_AND_ASSIGN(Selection from_slow, SelectBlocks(*fs_slow, o));
  EXPECT_EQ(from_slow.blocks.Runs(), from_fast.blocks.Runs());

  ext2_filsys f = fs_slow->raw();
  const uint64_t table_bytes = uint64_t{f->inode_blocks_per_group} * 1024;
  BlockSet want;  // in bytes
  for (dgrp_t g = io::SlowReads::kToActivate + 1; g < 16; ++g) {
    want.Add(ext2fs_inode_table_loc(f, g) * 1024, table_bytes);
  }
  BlockSet hinted;
  uint64_t hinted_bytes = 0;
  for (const auto& [off, len] : slow.hints()) {
    hinted.Add(off, len);
    hinted_bytes += len;
  }
  EXPECT_EQ(hinted.Runs(), want.Runs());
  EXPECT_EQ(hinted_bytes, (16 - io::SlowReads::kToActivate - 1) * table_bytes);
}

TEST_F(Ext4Select, TruncatedDeviceGivesWarnings) {
  // Without flex_bg, group 1's inode table lies in the missing part.
  std::vector<uint8_t> data = ReadAll(ext2_);
  data.resize(data.size() / 4);
  io::MemFile mem("short.img", std::move(data));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs,
                       Filesystem::Open(&mem, {}));
  ASSERT_OK_AND_ASSIGN(Selection sel, SelectBlocks(*fs, {}));
  EXPECT_FALSE(sel.warnings.empty());
  EXPECT_TRUE(sel.blocks.Contains(1));
}

TEST_F(Ext4Select, FallsBackToTheBackupSuperblock) {
  std::vector<uint8_t> data = ReadAll(ext4_);
  std::fill(data.begin() + 1024, data.begin() + 2048, 0);
  io::MemFile mem("zeroed.img", std::move(data));
  Filesystem::OpenOptions no_fallback;
  no_fallback.fall_back_to_backup = false;
  Result<std::unique_ptr<Filesystem>> strict =
      Filesystem::Open(&mem, no_fallback);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), Code::kCorruption);
  EXPECT_NE(strict.status().message().find("zeroed.img: open: Bad magic"),
            std::string::npos)
      << strict.status().message();

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs,
                       Filesystem::Open(&mem, {}));
  EXPECT_EQ(fs->superblock(), 8193u);
  EXPECT_NE(fs->open_note().find("backup superblock 8193"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Selection sel, SelectBlocks(*fs, {}));
  ASSERT_FALSE(sel.warnings.empty());
  EXPECT_EQ(sel.warnings[0], fs->open_note());
  EXPECT_TRUE(sel.blocks.Contains(8193));
  EXPECT_TRUE(sel.blocks.Contains(8194));
}

TEST_F(Ext4Select, BackupSuperblockWithoutBlockSize) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> file,
                       io::OpenFileForRead(ext2_));
  Filesystem::OpenOptions o;
  o.superblock = 8193;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs,
                       Filesystem::Open(file.get(), o));
  EXPECT_EQ(fs->block_size(), 1024u);
  EXPECT_EQ(fs->superblock(), 8193u);
  EXPECT_TRUE(fs->open_note().empty());
}

TEST_F(Ext4Select, InodeTableAtABogusLocationIsSelected) {
  // Group 1's table moved into group 1's data area, outside its flex group
  // (as in f_illitable_flexbg): e2fsck still reads it there.
  std::string img = Copy(ext4_, "bogus-itable.img");
  ASSERT_EQ(Sh("debugfs -w -R 'set_bg 1 inode_table 14000' " + img +
               " >/dev/null 2>&1 && debugfs -w -R 'set_bg 1 flags 0' " + img +
               " >/dev/null 2>&1 && debugfs -w -R 'set_bg 1 itable_unused 0' " +
               img + " >/dev/null 2>&1"),
            0);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> file,
                       io::OpenFileForRead(img));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Filesystem> fs,
                       Filesystem::Open(file.get(), {}));
  ASSERT_EQ(ext2fs_inode_table_loc(fs->raw(), 1), 14000u);
  const uint64_t table_blocks = fs->raw()->inode_blocks_per_group;
  ASSERT_LT(14000 + table_blocks, fs->blocks_count());
  ASSERT_OK_AND_ASSIGN(Selection sel, SelectBlocks(*fs, {}));
  // Free blocks before the damage: only the bogus location selects them.
  ASSERT_OK_AND_ASSIGN(Selection before, Select(ext4_, false));
  EXPECT_FALSE(before.blocks.Contains(14000));
  EXPECT_FALSE(before.blocks.Contains(14000 + table_blocks - 1));
  for (uint64_t b = 14000; b < 14000 + table_blocks; ++b) {
    EXPECT_TRUE(sel.blocks.Contains(b)) << b;
  }
}

TEST_F(Ext4Select, BigallocSelectsWholeClusters) {
  std::string img = dir_ + "/bigalloc.img";
  ASSERT_EQ(
      Sh("truncate -s 32M " + img + " && mke2fs -q -F -b 1024 -C 16384 " +
         kExt4 + ",bigalloc -d " + dir_ + "/tree " + img + " >/dev/null 2>&1"),
      0);
  ASSERT_OK_AND_ASSIGN(Selection sel, Select(img, false));
  for (const BlockRun& r : sel.blocks.Runs()) {
    EXPECT_EQ(r.start % 16, 0u) << r.start;
    EXPECT_EQ(r.count % 16, 0u) << r.start;
  }
}

TEST(Ext4SelectIo, WritesNeedAWritableRegistration) {
  std::vector<uint8_t> data(4096, 0);
  io::MemFile mem("m", data);
  {
    FileIoRegistration reg(&mem, /*writable=*/false);
    io_channel ch = nullptr;
    EXPECT_EQ(FileIoManager()->open(reg.name().c_str(), IO_FLAG_RW, &ch),
              EROFS);
    ASSERT_EQ(FileIoManager()->open(reg.name().c_str(), 0, &ch), 0);
    uint8_t buf[1024] = {1};
    EXPECT_EQ(io_channel_write_blk64(ch, 0, 1, buf), EROFS);
    io_channel_close(ch);
  }
  FileIoRegistration reg(&mem, /*writable=*/true);
  io_channel ch = nullptr;
  ASSERT_EQ(FileIoManager()->open(reg.name().c_str(), IO_FLAG_RW, &ch), 0);
  ASSERT_EQ(io_channel_set_blksize(ch, 2048), 0);
  uint8_t buf[2048];
  std::fill(buf, buf + sizeof(buf), 7);
  ASSERT_EQ(io_channel_write_blk64(ch, 1, 1, buf), 0);
  EXPECT_EQ(mem.data()[2048], 7);
  EXPECT_EQ(mem.data()[2047], 0);
  io_channel_close(ch);
}

TEST(Ext4SelectIo, ReadsByteCountsAndReportsShortReads) {
  std::vector<uint8_t> data(3000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  io::MemFile mem("m", data);
  FileIoRegistration reg(&mem, false);
  io_channel ch = nullptr;
  ASSERT_EQ(FileIoManager()->open(reg.name().c_str(), 0, &ch), 0);
  uint8_t buf[2048];
  // A negative count is a byte count: 10 bytes from block 1 (1 KiB units).
  ASSERT_EQ(io_channel_read_blk64(ch, 1, -10, buf), 0);
  EXPECT_EQ(buf[0], data[1024]);
  EXPECT_EQ(buf[9], data[1033]);
  // Block 2 is cut short by the end of the file: unix_io's error, zeros.
  std::fill(buf, buf + sizeof(buf), 0xff);
  EXPECT_EQ(io_channel_read_blk64(ch, 2, 1, buf), EXT2_ET_SHORT_READ);
  EXPECT_EQ(buf[0], data[2048]);
  EXPECT_EQ(buf[3000 - 2048], 0);
  EXPECT_EQ(buf[1023], 0);
  // Options: "offset" shifts every access.
  ASSERT_EQ(io_channel_set_options(ch, "offset=1024"), 0);
  ASSERT_EQ(io_channel_read_blk64(ch, 0, -4, buf), 0);
  EXPECT_EQ(buf[0], data[1024]);
  EXPECT_NE(io_channel_set_options(ch, "bogus=1"), 0);
  io_channel_close(ch);
}

TEST(Ext4SelectIo, UnknownNameDoesNotOpen) {
  io_channel ch = nullptr;
  EXPECT_NE(FileIoManager()->open("e2q-file:999999", 0, &ch), 0);
  io::MemFile mem("m");
  std::string name;
  {
    FileIoRegistration reg(&mem, false);
    name = reg.name();
  }
  EXPECT_NE(FileIoManager()->open(name.c_str(), 0, &ch), 0);
}

TEST(Ext4SelectIo, OpenErrorsNameTheDevice) {
  io::MemFile mem("junk.img", std::vector<uint8_t>(1 << 20, 0x5a));
  Result<std::unique_ptr<Filesystem>> fs = Filesystem::Open(&mem, {});
  ASSERT_FALSE(fs.ok());
  EXPECT_EQ(fs.status().message().rfind("junk.img: open: ", 0), 0u)
      << fs.status().message();
  EXPECT_EQ(FromErrcode("x", "y", EXT2_ET_SHORT_READ).code(), Code::kIOError);
  EXPECT_EQ(FromErrcode("x", "y", EXT2_ET_UNSUPP_FEATURE).code(),
            Code::kNotSupported);
  EXPECT_EQ(FromErrcode("x", "y", ENOENT).message(),
            "x: y: No such file or directory");
}

TEST(Ext4SelectMount, UnmountedFilePasses) {
  EXPECT_OK(CheckNotMountedReadWrite("/nonexistent-e2q-file", false));
  // The root filesystem of the machine running the tests is mounted
  // read-write; refused without force, accepted with it.
  Status s = CheckNotMountedReadWrite("/", false);
  if (!s.ok()) {
    EXPECT_NE(s.message().find("-f"), std::string::npos);
    EXPECT_OK(CheckNotMountedReadWrite("/", true));
  }
}

TEST(Ext4SelectDirRefs, ParsesEntriesAndStopsAtBadRecLen) {
  uint8_t block[1024] = {};
  auto put = [&](uint32_t off, uint32_t ino, uint16_t rec, uint8_t name_len) {
    StoreLE32(block + off, ino);
    StoreLE16(block + off + 4, rec);
    block[off + 6] = name_len;
  };
  put(0, 2, 12, 1);   // "."
  put(12, 2, 12, 2);  // ".."
  put(24, 0, 20, 4);  // deleted entry: no inode
  put(44, 77, 20, 5);
  put(64, 88, 960, 3);  // to the end of the block
  std::vector<uint32_t> seen;
  ForEachEntryInBlock(block, sizeof(block),
                      [&](uint32_t ino) { seen.push_back(ino); });
  EXPECT_EQ(seen, (std::vector<uint32_t>{2, 2, 77, 88}));

  put(44, 77, 13, 5);  // not a multiple of 4: parsing stops there
  seen.clear();
  ForEachEntryInBlock(block, sizeof(block),
                      [&](uint32_t ino) { seen.push_back(ino); });
  EXPECT_EQ(seen, (std::vector<uint32_t>{2, 2}));

  put(0, 5, 2000, 1);  // past the end of the block
  seen.clear();
  ForEachEntryInBlock(block, sizeof(block),
                      [&](uint32_t ino) { seen.push_back(ino); });
  EXPECT_TRUE(seen.empty());
}

}  // namespace
}  // namespace e2q::ext4
