// Tests for lib/file and lib/posix_file.
#include "lib/io/file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "lib/base/is_zero.h"
#include "lib/io/aligned_buffer.h"
#include "lib/io/posix_file.h"
#include "tests/unit/page_cache.h"
#include "tests/unit/test_util.h"
#include "tests/unit/var_tmp_file.h"

namespace e2q {
namespace {

bool IsZeroBytes(const std::vector<uint8_t>& v) {
  return IsZero(v.data(), v.size());
}

TEST(MemFileTest, ReadAtPastEndIsCorruptionNamingTheFile) {
  io::MemFile f("disk.img", std::vector<uint8_t>(100, 1));
  uint8_t buf[200];
  ASSERT_OK(f.ReadAt(0, buf, 100));
  Status s = f.ReadAt(50, buf, 100);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "disk.img: read at offset 100: unexpected end of file");
}

TEST(PosixFileTest, OpenMissingFileIsNotFound) {
  auto r = io::OpenFileForRead("/nonexistent/e2q");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(),
            "/nonexistent/e2q: open: No such file or directory");
}

TEST(PosixFileTest, RefusesDirectory) {
  auto r = io::OpenFileForRead("/tmp");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Is a directory"), std::string::npos);
}

TEST(PosixFileTest, WriteReadTruncate) {
  char path[] = "/tmp/e2q-file-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  io::PosixFile f(path, fd, true);
  std::vector<uint8_t> data(100000, 9);
  ASSERT_OK(f.WriteAt(4096, data.data(), data.size()));
  ASSERT_OK(f.Truncate(1 << 20));
  ASSERT_OK_AND_ASSIGN(uint64_t size, f.Size());
  EXPECT_EQ(size, 1u << 20);
  std::vector<uint8_t> back(100000);
  ASSERT_OK(f.ReadAt(4096, back.data(), back.size()));
  EXPECT_EQ(back, data);
  unlink(path);
}

// Direct and buffered writes of the same file interleave: large aligned
// writes take the O_DIRECT descriptor, the rest the buffered one, and
// reads see every byte either way.
TEST(PosixFileTest, DirectWritesMixWithBufferedWrites) {
  char path[] = "/var/tmp/e2q-direct-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  io::PosixFile f(path, fd, true);
  const bool direct = f.EnableDirectWrites();
  const size_t big = 1 << 20;
  io::AlignedBytes a = io::AllocateAligned(big);
  for (size_t i = 0; i < big; ++i) a[i] = static_cast<uint8_t>(i * 7);
  ASSERT_OK(f.WriteAt(0, a.get(), big));                 // direct
  std::vector<uint8_t> small(100, 0x5a);
  ASSERT_OK(f.WriteAt(10, small.data(), small.size()));  // buffered
  ASSERT_OK(f.WriteAt(big, a.get() + 1, big - 4096));    // unaligned memory
  ASSERT_OK(f.WriteAt(8192, a.get(), big));              // direct, over both
  ASSERT_OK(f.Sync());
  const size_t want_size = 2 * big - 4096;
  ASSERT_OK_AND_ASSIGN(uint64_t size, f.Size());
  ASSERT_EQ(size, want_size);
  std::vector<uint8_t> back(want_size);
  ASSERT_OK(f.ReadAt(0, back.data(), want_size));
  std::vector<uint8_t> want(want_size);
  std::memcpy(want.data(), a.get(), big);
  std::memcpy(want.data() + 10, small.data(), small.size());
  std::memcpy(want.data() + big, a.get() + 1, big - 4096);
  std::memcpy(want.data() + 8192, a.get(), big);
  EXPECT_TRUE(back == want) << "direct writes enabled: " << direct;
  unlink(path);
}

TEST(PosixFileTest, EarlyWritebackKeepsContent) {
  char path[] = "/var/tmp/e2q-writeback-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  io::PosixFile f(path, fd, true);
  f.EnableEarlyWriteback();
  const size_t big = 1 << 20;
  std::vector<uint8_t> a(big + 7);  // writes of `big` bytes from a or a + 7
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 13 + 1);
  ASSERT_OK(f.WriteAt(4096, a.data(), big));       // writeback started
  ASSERT_OK(f.WriteAt(5, a.data(), 100));          // small: not
  ASSERT_OK(f.WriteAt(big / 2, a.data() + 7, big));  // over the first
  ASSERT_OK(f.Sync());
  std::vector<uint8_t> want(big / 2 + big, 0);
  std::memcpy(want.data() + 4096, a.data(), big / 2 - 4096);
  std::memcpy(want.data() + 5, a.data(), 100);
  std::memcpy(want.data() + big / 2, a.data() + 7, big);
  ASSERT_OK_AND_ASSIGN(uint64_t size, f.Size());
  ASSERT_EQ(size, want.size());
  std::vector<uint8_t> back(want.size());
  ASSERT_OK(f.ReadAt(0, back.data(), back.size()));
  EXPECT_TRUE(back == want);
  unlink(path);
}

TEST(PosixFileTest, CountsTheReadsThatWaitForTheDevice) {
  constexpr size_t kLen = 1 << 20;
  std::vector<uint8_t> data(kLen);
  for (size_t i = 0; i < kLen; ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  const int fd = UncachedTempFile(data);
  ASSERT_NE(fd, -1);
  if (fd == -2)
    GTEST_SKIP() << "this file system keeps the pages cached (tmpfs?)";
  // No readahead: each read below brings in only what it asks for.
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
  io::PosixFile f("uncached", fd, /*owns_fd=*/true);
  ASSERT_EQ(f.ReadWaits(), 0);
  std::vector<uint8_t> buf(kLen);
  auto read = [&](uint64_t off, size_t len) {
    std::fill(buf.begin(), buf.end(), 0);
    ASSERT_OK_AND_ASSIGN(size_t n, f.ReadSome(off, buf.data(), len));
    ASSERT_EQ(n, len);
    EXPECT_EQ(std::memcmp(buf.data(), data.data() + off, len), 0) << off;
  };
  read(0, 64 << 10);  // from the disk
  if (f.ReadWaits() < 0) GTEST_SKIP() << "the kernel refuses RWF_NOWAIT here";
  EXPECT_EQ(f.ReadWaits(), 1);
  read(0, 64 << 10);  // from the page cache
  EXPECT_EQ(f.ReadWaits(), 1);
  // Half cached, half not: the cached half first, then the rest; one wait.
  read(32 << 10, 64 << 10);
  EXPECT_EQ(f.ReadWaits(), 2);
  read(0, 96 << 10);
  EXPECT_EQ(f.ReadWaits(), 2);
  // At the end of the file: what there is, and no wait for the rest.
  // Unless the kernel brought in more than was read (large folios): then
  // the end may come from the cache, and says nothing (seen once in many
  // runs on kernel 6.18).
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (ResidentPages(fd, kLen) != (size_t{96} << 10) / page) {
    GTEST_SKIP() << "the kernel cached more of the file than was read";
  }
  read(kLen - 4096, 4096);
  EXPECT_EQ(f.ReadWaits(), 3);
  ASSERT_OK_AND_ASSIGN(size_t n, f.ReadSome(kLen - 4096, buf.data(), 8192));
  EXPECT_EQ(n, 4096u);
  ASSERT_OK_AND_ASSIGN(n, f.ReadSome(kLen, buf.data(), 8192));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(f.ReadWaits(), 3);
}

// A sparse file under /var/tmp: written data, a hole, preallocated
// (unwritten) space read once, so that its zeros sit in the page cache,
// preallocated space partly written and not yet synced, and a hole to the
// end.  Walking its stretches: every hole reads as zeros, every written
// byte lies in data, and the plain hole is found; where the extent map
// answers (ext4, XFS, btrfs), the cached preallocated space is a hole too.
TEST(PosixFileTest, StretchesAreTheHolesAndDataOfASparseFile) {
  constexpr uint64_t kK = 1024;
  std::unique_ptr<io::PosixFile> file = UnlinkedVarTmpFile("e2q-stretch-test");
  ASSERT_NE(file, nullptr);
  io::PosixFile& f = *file;
  const int fd = f.fd();
  const std::vector<uint8_t> a(64 * kK, 0xa5), b(4 * kK, 0x5a);
  ASSERT_OK(f.WriteAt(0, a.data(), a.size()));
  ASSERT_OK(f.Truncate(1024 * kK));
  const bool prealloc =
      ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 256 * kK, 192 * kK) == 0;
  std::vector<uint8_t> buf(128 * kK, 1);
  ASSERT_OK(f.ReadAt(256 * kK, buf.data(), buf.size()));  // zeros, cached
  ASSERT_TRUE(IsZeroBytes(buf));
  ASSERT_OK(f.WriteAt(400 * kK, b.data(), b.size()));  // dirty, not synced
  ASSERT_OK(f.Sync());
  ASSERT_OK(f.WriteAt(420 * kK, b.data(), b.size()));  // dirty again

  std::vector<std::pair<uint64_t, uint64_t>> hole_ranges;
  for (uint64_t at = 0; at < 1024 * kK;) {
    const io::File::Stretch s = f.StretchAt(at);
    ASSERT_GT(s.end, at);
    const uint64_t end = std::min<uint64_t>(s.end, 1024 * kK);
    if (s.hole) {
      std::vector<uint8_t> h(end - at, 1);
      ASSERT_OK(f.ReadAt(at, h.data(), h.size()));
      EXPECT_TRUE(IsZeroBytes(h)) << "hole [" << at << ", " << end << ")";
      hole_ranges.emplace_back(at, end);
    }
    at = end;
  }
  auto in_hole = [&](uint64_t from, uint64_t to) {
    for (const auto& [x, y] : hole_ranges) {
      if (x < to && from < y) return true;
    }
    return false;
  };
  auto covered = [&](uint64_t from, uint64_t to) {
    for (const auto& [x, y] : hole_ranges) {
      if (x <= from && to <= y) return true;
    }
    return false;
  };
  if (hole_ranges.empty()) {
    GTEST_SKIP() << "this file system tells no holes";
  }
  EXPECT_FALSE(in_hole(0, 64 * kK));
  EXPECT_FALSE(in_hole(400 * kK, 404 * kK));
  EXPECT_FALSE(in_hole(420 * kK, 424 * kK));
  EXPECT_TRUE(covered(64 * kK, 256 * kK));
  EXPECT_TRUE(covered(448 * kK, 1024 * kK));
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  struct statfs sfs;
  ASSERT_EQ(::fstatfs(fd, &sfs), 0);
  if (prealloc && sfs.f_type == EXT4_SUPER_MAGIC) {
    EXPECT_TRUE(covered(256 * kK, 400 * kK));
    EXPECT_TRUE(covered(404 * kK, 420 * kK));
    EXPECT_TRUE(covered(424 * kK, 448 * kK));
  }
  // Past the end: data, left to the reads.
  EXPECT_FALSE(f.StretchAt(1024 * kK).hole);
  EXPECT_FALSE(f.StretchAt(uint64_t{1} << 62).hole);
}

TEST(PosixFileTest, ADeviceOrPipeHasNoHoles) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  io::PosixFile f("pipe", fds[0], /*owns_fd=*/true);
  EXPECT_FALSE(f.StretchAt(0).hole);
  EXPECT_EQ(f.StretchAt(0).end, UINT64_MAX);
  ::close(fds[1]);
}

TEST(PosixFileTest, ReservedBlocksAreAllocatedAndTruncateReleasesThem) {
  constexpr uint64_t kK = 1024;
  std::unique_ptr<io::PosixFile> file = UnlinkedVarTmpFile("e2q-reserve-test");
  ASSERT_NE(file, nullptr);
  io::PosixFile& f = *file;
  const int fd = f.fd();
  const std::vector<uint8_t> a(64 * kK, 0xa5);
  ASSERT_OK(f.WriteAt(0, a.data(), a.size()));
  ASSERT_OK(f.Sync());
  auto allocated = [fd] {
    struct stat st;
    EXPECT_EQ(::fstat(fd, &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  };
  const uint64_t before = allocated();
  if (!f.Reserve(64 * kK, 4096 * kK)) {
    GTEST_SKIP() << "this file system cannot allocate ahead";
  }
  // Allocated, the length unchanged, and what was written still there.
  EXPECT_GE(allocated(), before + 4096 * kK);
  ASSERT_OK_AND_ASSIGN(uint64_t size, f.Size());
  EXPECT_EQ(size, 64 * kK);
  // Writes into the reserved blocks read back; past them the file grows.
  const std::vector<uint8_t> b(128 * kK, 0x5a);
  ASSERT_OK(f.WriteAt(64 * kK, b.data(), b.size()));
  std::vector<uint8_t> back(b.size());
  ASSERT_OK(f.ReadAt(64 * kK, back.data(), back.size()));
  EXPECT_EQ(back, b);
  ASSERT_OK_AND_ASSIGN(size, f.Size());
  EXPECT_EQ(size, 192 * kK);
  // Setting the length it already has releases the rest.
  ASSERT_OK(f.Truncate(192 * kK));
  EXPECT_LE(allocated(), 192 * kK + 64 * kK);
}

TEST(PosixFileTest, APipeReservesNothing) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  io::PosixFile f("pipe", fds[1], /*owns_fd=*/true);
  EXPECT_FALSE(f.Reserve(0, 4096));
  ::close(fds[0]);
}

TEST(StreamFileTest, FillsGapsAndRefusesBackwardWrites) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  io::StreamFile s("pipe", fds[1]);
  uint8_t a = 'a';
  ASSERT_OK(s.WriteAt(3, &a, 1));
  EXPECT_FALSE(s.WriteAt(1, &a, 1).ok());
  ASSERT_OK(s.Truncate(6));
  close(fds[1]);
  char buf[16];
  ssize_t n = read(fds[0], buf, sizeof(buf));
  close(fds[0]);
  ASSERT_EQ(n, 6);
  EXPECT_EQ(std::string(buf, 6), std::string("\0\0\0a\0\0", 6));
}

}  // namespace
}  // namespace e2q
