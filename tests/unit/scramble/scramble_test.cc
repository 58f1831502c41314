// Tests for lib/scramble on real filesystems built by mke2fs -d at test
// time: the scrambled image (every block passed through Apply) must pass
// e2fsck -fn, keep every directory's entry count, name lengths and dot
// entries, show none of the original names anywhere in its in-use blocks,
// and answer htree lookups of the new names.
#include "lib/scramble/scramble.h"

#include <set>
#include <string>

#include "tests/unit/scramble/scramble_test_util.h"
#include "tests/unit/test_util.h"

namespace e2q::scramble {
namespace scramble_test {
namespace {

TEST_F(ScrambleFsTest, Ext4MetadataCsumHtree) {
  ASSERT_NO_FATAL_FAILURE(StandardTree(3000));
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(
      MakeFs(img, std::string("-b 1024 -I 256 -N 4096 -O ") + kExt4));
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options(), &s));
  EXPECT_TRUE(s->warnings().empty()) << s->warnings()[0];
  EXPECT_EQ(s->stats().htree_rebuilt, 1u);
  EXPECT_EQ(s->stats().htree_linearized, 0u);
  EXPECT_EQ(s->stats().fast_symlinks, 1u);
  EXPECT_EQ(s->stats().slow_symlinks, 1u);
  EXPECT_GT(s->stats().journal_blocks_zeroed, 0u);
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);

  Fs a(img), b(out);
  ASSERT_NE(b.fs, nullptr);
  for (const char* d : {"/", "/docs", "/one", "/big", "/long", "/links"}) {
    ExpectScrambledDir(a, b, d);
  }
  // Two levels of index at 1 KiB blocks; every new name found through it.
  ext2_ino_t big = a.Lookup("/big");
  ASSERT_TRUE(b.Inode(big).i_flags & EXT2_INDEX_FL);
  EXPECT_EQ(DxLevels(a, big), 1);
  EXPECT_EQ(DxLevels(b, big), 1);
  Listing entries = List(b, big);
  for (auto& [name, ino] : entries) {
    if (name != "." && name != "..") {
      EXPECT_EQ(DxLookup(b, big, name), ino) << name;
    }
  }
  EXPECT_EQ(DxLookup(b, big, "no-such-name"), 0u);
  for (const char* l : {"/links/fastlink", "/links/slowlink"}) {
    ExpectScrambledLink(a, b, l);
  }
  const std::string used = InUseBytes(out);
  for (const char* secret : {"holiday_photo", "confidential_report", "alice",
                             "hardlinked", "LLLLLLLLLLLLLLLL", "fastlink"}) {
    EXPECT_EQ(used.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(InUseBytes(img).find("holiday_photo"), std::string::npos);

  // Same filesystem, same image.
  const std::string again = dir_ + "/again.img";
  ASSERT_NO_FATAL_FAILURE(Scramble(img, again, Scrambler::Options()));
  EXPECT_EQ(Sh("cmp -s " + out + " " + again), 0);
}

TEST_F(ScrambleFsTest, HtreeFallbackMakesDirectoriesLinear) {
  ASSERT_NO_FATAL_FAILURE(StandardTree(800));
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(
      MakeFs(img, std::string("-b 1024 -I 256 -N 2048 -O ") + kExt4));
  Scrambler::Options o;
  o.htree_to_linear = true;
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, o, &s));
  EXPECT_EQ(s->stats().htree_rebuilt, 0u);
  EXPECT_GE(s->stats().htree_linearized, 1u);
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);
  Fs a(img), b(out);
  EXPECT_FALSE(b.Inode(a.Lookup("/big")).i_flags & EXT2_INDEX_FL);
  ExpectScrambledDir(a, b, "/big");
}

TEST_F(ScrambleFsTest, NoChecksumsAndDeletedEntries) {
  ASSERT_NO_FATAL_FAILURE(StandardTree(1500));
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(MakeFs(
      img, "-b 4096 -O has_journal,dir_index,filetype,sparse_super,ext_attr"));
  // Deleted records keep their names on disk until scrambled away.
  ASSERT_EQ(Sh("debugfs -w -R 'rm /docs/confidential_report_7.txt' " + img +
               " >/dev/null 2>&1"),
            0);
  ASSERT_EQ(Sh("debugfs -w -R 'rm /big/holiday_photo_from_the_summer_trip_"
               "00042.jpg' " +
               img + " >/dev/null 2>&1"),
            0);
  ASSERT_EQ(Sh("e2fsck -fn " + img + " >/dev/null 2>&1"), 0);
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options()));
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);
  Fs a(img), b(out);
  for (const char* d : {"/", "/docs", "/one", "/big", "/links"}) {
    ExpectScrambledDir(a, b, d);
  }
  const std::string used = InUseBytes(out);
  EXPECT_EQ(used.find("confidential_report_7"), std::string::npos);
  EXPECT_EQ(used.find("trip_00042"), std::string::npos);
}

TEST_F(ScrambleFsTest, InlineDataDirectoriesAndSymlinks) {
  // libext2fs keeps a directory inline only while its records fit i_block;
  // the 82-byte symlink target spills into the system.data attribute.
  File("tiny/secret_a");
  File("tiny/secret_bb");
  Link("lnk/inline_link", "/home/alice/" + std::string(70, 'i'));
  Link("lnk/short_link", "/home/alice/x");
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(MakeFs(
      img, std::string("-b 4096 -I 256 -O inline_data,") + kExt4, false));
  Fs a(img);
  for (const char* p : {"/tiny", "/lnk", "/lnk/inline_link"}) {
    ASSERT_TRUE(a.Inode(a.Lookup(p)).i_flags & EXT4_INLINE_DATA_FL) << p;
  }
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options(), &s));
  EXPECT_TRUE(s->warnings().empty()) << s->warnings()[0];
  EXPECT_EQ(s->stats().inline_directories, 2u);
  EXPECT_EQ(s->stats().fast_symlinks, 2u);
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);
  Fs b(out);
  ExpectScrambledDir(a, b, "/tiny");
  ExpectScrambledDir(a, b, "/lnk");
  for (const char* l : {"/lnk/inline_link", "/lnk/short_link"}) {
    ExpectScrambledLink(a, b, l);
  }
  const std::string used = InUseBytes(out);
  for (const char* secret : {"alice", "secret_", "iiiiiiii", "_link"}) {
    EXPECT_EQ(used.find(secret), std::string::npos) << secret;
  }
}

TEST_F(ScrambleFsTest, CasefoldedHtree) {
  // mke2fs -d cannot make a casefolded directory: set +F afterwards and let
  // e2fsck -D index it with the casefolded hash.
  for (int i = 0; i < 400; ++i) {
    File("cf/Mixed_Case_Secret_" + std::to_string(i));
  }
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(
      MakeFs(img, std::string("-b 1024 -I 256 -O casefold,") + kExt4, false));
  ASSERT_EQ(Sh("debugfs -w -R 'set_inode_field /cf flags 0x40080000' " + img +
               " >/dev/null 2>&1"),
            0);
  Sh("e2fsck -fyD " + img + " >/dev/null 2>&1");
  ASSERT_EQ(Sh("e2fsck -fn " + img + " >/dev/null 2>&1"), 0);
  Fs a(img);
  ext2_ino_t cf = a.Lookup("/cf");
  ASSERT_EQ(a.Inode(cf).i_flags & (EXT4_CASEFOLD_FL | EXT2_INDEX_FL),
            EXT4_CASEFOLD_FL | EXT2_INDEX_FL);
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options(), &s));
  EXPECT_TRUE(s->warnings().empty()) << s->warnings()[0];
  EXPECT_EQ(s->stats().htree_rebuilt, 1u);
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);
  Fs b(out);
  ExpectScrambledDir(a, b, "/cf");
  for (auto& [name, ino] : List(b, cf)) {
    for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
  }
}

TEST_F(ScrambleFsTest, SixtyFourKiBBlocks) {
  // rec_len of a record spanning a 64 KiB block has its own encoding.
  for (int i = 0; i < 1500; ++i) {  // two leaves of 64 KiB
    File("big/a_fairly_long_and_private_file_name_" + std::to_string(i));
  }
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(
      MakeFs(img,
             "-b 65536 -I 256 -N 3000 -O extent,metadata_csum,64bit,dir_index,"
             "filetype,extra_isize,ext_attr"));
  Fs a(img);
  ext2_ino_t big = a.Lookup("/big");
  ASSERT_TRUE(a.Inode(big).i_flags & EXT2_INDEX_FL);
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options(), &s));
  EXPECT_EQ(s->stats().htree_rebuilt, 1u);
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);
  Fs b(out);
  ExpectScrambledDir(a, b, "/big");
  for (auto& [name, ino] : List(b, big)) {
    if (name != "." && name != "..") {
      EXPECT_EQ(DxLookup(b, big, name), ino) << name;
    }
  }
}

TEST_F(ScrambleFsTest, CrowdedOneByteNamesUnsignedHash) {
  // 200 one-byte names: replacements need bytes past 0x7f, whose hash
  // differs between the signed and unsigned variants, in an htree (three
  // 1 KiB blocks) of a filesystem flagged unsigned_directory_hash.
  int made = 0;
  for (int c = 1; c < 256 && made < 200; ++c) {
    if (c == '/' || c == '.') continue;
    File("many/" + std::string(1, static_cast<char>(c)));
    ++made;
  }
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(
      MakeFs(img, std::string("-b 1024 -I 256 -O ") + kExt4, false));
  ASSERT_EQ(Sh("debugfs -w -R 'ssv flags 2' " + img + " >/dev/null 2>&1"), 0);
  Sh("e2fsck -fyD " + img + " >/dev/null 2>&1");
  ASSERT_EQ(Sh("e2fsck -fn " + img + " >/dev/null 2>&1"), 0);
  Fs a(img);
  ASSERT_TRUE(a.fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH);
  ext2_ino_t many = a.Lookup("/many");
  ASSERT_TRUE(a.Inode(many).i_flags & EXT2_INDEX_FL);
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options(), &s));
  EXPECT_EQ(s->stats().htree_rebuilt, 1u);
  EXPECT_EQ(Sh("e2fsck -fn " + out + " >/dev/null 2>&1"), 0);
  Fs b(out);
  int high = 0;
  for (auto& [name, ino] : List(b, many)) {
    EXPECT_EQ(name.find('/'), std::string::npos);
    high += static_cast<unsigned char>(name[0]) >= 0x80;
    if (name != "." && name != "..") {
      EXPECT_EQ(DxLookup(b, many, name), ino);
    }
  }
  EXPECT_GT(high, 0);
  // Names stay unique.  Only 53 one-byte names are not originals, so the
  // other 147 replacements must be originals (permuted).
  Listing before = List(a, many), after = List(b, many);
  ASSERT_EQ(before.size(), after.size());
  std::set<std::string> names, old;
  for (auto& e : before) old.insert(e.first);
  int reused = 0;
  for (auto& e : after) {
    EXPECT_TRUE(names.insert(e.first).second);
    reused += e.first != "." && e.first != ".." && old.count(e.first);
  }
  EXPECT_EQ(reused, 147);
}

TEST_F(ScrambleFsTest, UnlinkedButAllocatedDirectory) {
  // An orphan directory (no links, still allocated) is imaged, so its names
  // must be scrambled too.
  for (int i = 0; i < 30; ++i)
    File("orphan/private_entry_" + std::to_string(i));
  const std::string img = dir_ + "/fs.img", out = dir_ + "/out.img";
  ASSERT_NO_FATAL_FAILURE(
      MakeFs(img, std::string("-b 4096 -I 256 -O ") + kExt4, false));
  ext2_ino_t orphan;
  {
    Fs a(img);
    orphan = a.Lookup("/orphan");
  }
  ASSERT_EQ(Sh("debugfs -w -f - " + img +
               " >/dev/null 2>&1 <<'EOF'\n"
               "unlink /orphan\nsif <" +
               std::to_string(orphan) + "> links_count 0\nEOF"),
            0);
  std::unique_ptr<Scrambler> s;
  ASSERT_NO_FATAL_FAILURE(Scramble(img, out, Scrambler::Options(), &s));
  ASSERT_NE(InUseBytes(img).find("private_entry_"), std::string::npos)
      << "fixture lost the names";
  EXPECT_EQ(InUseBytes(out).find("private_entry_"), std::string::npos);
}

}  // namespace
}  // namespace scramble_test
}  // namespace e2q::scramble
