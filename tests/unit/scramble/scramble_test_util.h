// Fixture of tests/unit/scramble/scramble_test.cc: filesystems built by mke2fs -d in
// a temporary folder, a driver that passes every block of an image through
// a Scrambler, and readers that check the result independently of the
// scrambler's code (listing by inode, symlink targets, an htree lookup that
// walks the index as the kernel does).
#ifndef E2Q_TESTS_UNIT_SCRAMBLE_TEST_UTIL_H_
#define E2Q_TESTS_UNIT_SCRAMBLE_TEST_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lib/base/endian.h"
#include "lib/scramble/scramble.h"
#include "lib/scramble/scramble_dirent.h"
#include "tests/unit/test_util.h"

namespace e2q::scramble {
namespace scramble_test {

namespace stdfs = std::filesystem;
using Listing = std::vector<std::pair<std::string, ext2_ino_t>>;

inline const char kEnv[] =
    "export MKE2FS_CONFIG=/dev/null E2FSPROGS_FAKE_TIME=1700000000 LC_ALL=C "
    "TZ=UTC PATH=/usr/sbin:/sbin:$PATH; ";
inline const char kIds[] =
    " -U 6a1f5b8e-52d4-4c1e-9a0b-2f2d3e4c5b6a"
    " -E hash_seed=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ";
inline const char kExt4[] =
    "has_journal,extent,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize,"
    "dir_index,filetype,sparse_super,large_file,huge_file,ext_attr";

inline int Sh(const std::string& cmd) {
  int rc = std::system((kEnv + cmd).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct Fs {
  ext2_filsys fs = nullptr;
  explicit Fs(const std::string& path) {
    if (ext2fs_open(path.c_str(), EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
                    &fs) != 0) {
      fs = nullptr;
    }
  }
  ~Fs() {
    if (fs != nullptr) ext2fs_close_free(&fs);
  }
  ext2_ino_t Lookup(const std::string& path) const {
    ext2_ino_t ino = 0;
    if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path.c_str(), &ino)) {
      return 0;
    }
    return ino;
  }
  ext2_inode_large Inode(ext2_ino_t ino) const {
    ext2_inode_large inode = {};
    ext2fs_read_inode_full(fs, ino, reinterpret_cast<ext2_inode*>(&inode),
                           sizeof(inode));
    return inode;
  }
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream is(path, std::ios::binary | std::ios::ate);
  std::string data(static_cast<size_t>(is.tellg()), '\0');
  is.seekg(0);
  is.read(data.data(), data.size());
  return data;
}

inline int ListEntry(ext2_ino_t, int, ext2_dir_entry* d, int, int, char*,
                     void* p) {
  static_cast<Listing*>(p)->emplace_back(
      std::string(d->name, ext2fs_dirent_name_len(d)), d->inode);
  return 0;
}

// Names change but inode numbers do not: directories and symlinks of the
// scrambled image are found through the original's inode numbers.
inline Listing List(const Fs& f, ext2_ino_t ino) {
  Listing out;
  errcode_t err = ext2fs_dir_iterate2(f.fs, ino, 0, nullptr, ListEntry, &out);
  EXPECT_EQ(err, 0) << "dir " << ino << ": " << error_message(err);
  return out;
}

inline std::string ReadLink(const Fs& f, ext2_ino_t ino) {
  ext2_inode_large inode = f.Inode(ino);
  auto* small = reinterpret_cast<ext2_inode*>(&inode);
  std::vector<char> buf(f.fs->blocksize + 1, 0);
  size_t size = EXT2_I_SIZE(&inode);
  if (inode.i_flags & EXT4_INLINE_DATA_FL) {
    ext2fs_inline_data_get(f.fs, ino, small, buf.data(), &size);
  } else if (ext2fs_is_fast_symlink(small)) {
    std::memcpy(buf.data(), inode.i_block, size);
  } else {
    blk64_t b = 0;
    ext2fs_bmap2(f.fs, ino, small, nullptr, 0, 0, nullptr, &b);
    io_channel_read_blk64(f.fs->io, b, 1, buf.data());
  }
  return std::string(buf.data(), size);
}

// Looks `name` up through the htree index alone, as the kernel does:
// hash, descend by binary search, scan the leaf, follow a continuation.
inline ext2_ino_t DxLookup(const Fs& f, ext2_ino_t dir,
                           const std::string& name) {
  ext2_inode_large inode = f.Inode(dir);
  auto* small = reinterpret_cast<ext2_inode*>(&inode);
  const uint32_t bs = f.fs->blocksize;
  auto read = [&](uint32_t lblk) {
    std::vector<uint8_t> b(bs);
    blk64_t phys = 0;
    ext2fs_bmap2(f.fs, dir, small, nullptr, 0, lblk, nullptr, &phys);
    io_channel_read_blk64(f.fs->io, phys, 1, b.data());
    return b;
  };
  std::vector<uint8_t> node = read(0);
  int version = node[28];
  if (version <= EXT2_HASH_TEA &&
      (f.fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH)) {
    version += 3;
  }
  ext2_dirhash_t hash = 0, minor = 0;
  ext2fs_dirhash2(version, name.data(), name.size(), nullptr, 0,
                  f.fs->super->s_hash_seed, &hash, &minor);
  int levels = node[30];
  uint32_t off = 32;
  for (int level = 0;; ++level) {
    const uint8_t* c = node.data() + off;
    uint16_t count = LoadLE16(c + 2);
    uint16_t at = 0;
    while (at + 1 < count && LoadLE32(c + 8 * (at + 1)) <= hash) ++at;
    uint32_t child = LoadLE32(c + 8 * at + 4);
    if (level < levels) {
      node = read(child);
      off = 8;
      continue;
    }
    for (;;) {
      std::vector<uint8_t> leaf = read(child);
      std::vector<DirentRef> recs;
      ParseDirents(leaf.data(), bs, &recs);
      for (const DirentRef& r : recs) {
        if (r.inode != 0 && r.name_len == name.size() &&
            std::memcmp(&leaf[r.offset + 8], name.data(), name.size()) == 0) {
          return r.inode;
        }
      }
      ++at;
      if (at >= count || (LoadLE32(c + 8 * at) & ~1u) != hash) return 0;
      child = LoadLE32(c + 8 * at + 4);
    }
  }
}

// indirect_levels of directory `dir`'s dx_root.
inline int DxLevels(const Fs& f, ext2_ino_t dir) {
  ext2_inode_large inode = f.Inode(dir);
  blk64_t phys = 0;
  ext2fs_bmap2(f.fs, dir, reinterpret_cast<ext2_inode*>(&inode), nullptr, 0, 0,
               nullptr, &phys);
  std::vector<uint8_t> b(f.fs->blocksize);
  io_channel_read_blk64(f.fs->io, phys, 1, b.data());
  return b[30];
}

class ScrambleFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Sh("{ command -v mke2fs && command -v e2fsck && command -v debugfs; } "
           ">/dev/null") != 0) {
      GTEST_SKIP() << "e2fsprogs not installed";
    }
    std::string tmpl = stdfs::temp_directory_path() / "e2q-scramble.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    src_ = dir_ + "/src";
  }
  void TearDown() override {
    if (!dir_.empty()) stdfs::remove_all(dir_);
  }

  void File(const std::string& rel, const std::string& content = "") {
    stdfs::create_directories(stdfs::path(src_ + "/" + rel).parent_path());
    std::ofstream(src_ + "/" + rel) << content;
  }
  void Link(const std::string& rel, const std::string& target) {
    stdfs::create_directories(stdfs::path(src_ + "/" + rel).parent_path());
    stdfs::create_symlink(target, src_ + "/" + rel);
  }
  // The tree most tests scramble.
  void StandardTree(int big_entries) {
    for (int i = 0; i < 20; ++i) {
      File("docs/confidential_report_" + std::to_string(i) + ".txt", "x");
    }
    ASSERT_EQ(link((src_ + "/docs/confidential_report_1.txt").c_str(),
                   (src_ + "/docs/hardlinked_report").c_str()),
              0);
    const std::string one =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        "-_+=~!@#%^&,;";
    for (char c : one) File("one/" + std::string(1, c));
    for (int i = 0; i < big_entries; ++i) {
      char name[64];
      std::snprintf(name, sizeof(name),
                    "big/holiday_photo_from_the_summer_trip_%05d.jpg", i);
      File(name);
    }
    File("long/" + std::string(255, 'L'));
    Link("links/fastlink", "/home/alice/private/place");
    Link("links/slowlink", "/home/alice/" + std::string(150, 'p') + "/end");
  }
  // mke2fs -d, then e2fsck -fyD so that big directories get an htree, then
  // a check that the fixture is clean.
  // (-D would turn inline directories into block ones: `index` false skips
  // it.)
  void MakeFs(const std::string& img, const std::string& opts,
              bool index = true) {
    ASSERT_EQ(Sh("truncate -s 24M " + img + " && mke2fs -q -F -T default " +
                 opts + kIds + "-d " + src_ + " " + img + " >/dev/null 2>&1"),
              0);
    if (index) Sh("e2fsck -fyD " + img + " >/dev/null 2>&1");
    ASSERT_EQ(Sh("e2fsck -fn " + img + " >/dev/null 2>&1"), 0);
  }
  // Runs every block of `in` through a Scrambler into `out`, in odd-sized
  // chunks so that patches land at every position of a buffer.
  void Scramble(const std::string& in, const std::string& out,
                const Scrambler::Options& options,
                std::unique_ptr<Scrambler>* keep = nullptr) {
    Fs f(in);
    ASSERT_NE(f.fs, nullptr);
    ASSERT_OK_AND_ASSIGN(auto s, Scrambler::Create(f.fs, options));
    const uint32_t bs = f.fs->blocksize;
    std::string data = ReadFile(in);
    auto* bytes = reinterpret_cast<uint8_t*>(data.data());
    const uint64_t n = data.size() / bs;
    for (uint64_t first = 0; first < n; first += 37) {
      ASSERT_OK(s->Apply(first, std::min<uint64_t>(37, n - first),
                         bytes + first * bs));
    }
    std::ofstream(out, std::ios::binary).write(data.data(), data.size());
    if (keep) *keep = std::move(s);
  }
  // The in-use blocks of `img` (free ones are never imaged) as one string.
  std::string InUseBytes(const std::string& img) {
    Fs f(img);
    EXPECT_EQ(ext2fs_read_block_bitmap(f.fs), 0);
    const std::string all = ReadFile(img);
    std::string used;
    const uint32_t bs = f.fs->blocksize;
    for (blk64_t b = 0; b < ext2fs_blocks_count(f.fs->super); ++b) {
      if (b < f.fs->super->s_first_data_block ||
          ext2fs_test_block_bitmap2(f.fs->block_map, b)) {
        used.append(all, b * bs, bs);
      }
    }
    return used;
  }
  // Same entries per inode with the same name lengths, unique names, dots
  // kept, no original name left (but "lost+found" in the root).
  void ExpectScrambledDir(const Fs& a, const Fs& b, const std::string& dir) {
    ext2_ino_t ino = a.Lookup(dir);
    ASSERT_NE(ino, 0u) << dir;
    Listing before = List(a, ino), after = List(b, ino);
    ASSERT_EQ(before.size(), after.size()) << dir;
    std::multiset<std::pair<ext2_ino_t, size_t>> la, lb;
    std::set<std::string> orig, seen;
    for (auto& [name, ino] : before) {
      la.insert({ino, name.size()});
      orig.insert(name);
    }
    for (auto& [name, ino] : after) {
      lb.insert({ino, name.size()});
      EXPECT_TRUE(seen.insert(name).second) << dir << ": duplicate " << name;
      if (name == "." || name == ".." || (dir == "/" && name == "lost+found")) {
        continue;
      }
      EXPECT_EQ(orig.count(name), 0u) << dir << ": kept " << name;
    }
    EXPECT_EQ(la, lb) << dir;
    EXPECT_TRUE(seen.count(".") && seen.count("..")) << dir;
  }

  void ExpectScrambledLink(const Fs& a, const Fs& b, const std::string& l) {
    ext2_ino_t ino = a.Lookup(l);
    ASSERT_NE(ino, 0u) << l;
    std::string t0 = ReadLink(a, ino), t1 = ReadLink(b, ino);
    EXPECT_EQ(t0.size(), t1.size()) << l;
    EXPECT_NE(t0, t1) << l;
    EXPECT_EQ(t1.find('/'), std::string::npos) << l;
  }

  std::string dir_, src_;
};

}  // namespace scramble_test
}  // namespace e2q::scramble

#endif  // E2Q_TESTS_UNIT_SCRAMBLE_TEST_UTIL_H_
