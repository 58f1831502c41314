// Tests for lib/file and lib/posix_file.
#include "lib/file.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/posix_file.h"
#include "tests/unit/test_util.h"

namespace e2q {
namespace {

TEST(MemFileTest, ReadAtPastEndIsCorruptionNamingTheFile) {
  MemFile f("disk.img", std::vector<uint8_t>(100, 1));
  uint8_t buf[200];
  ASSERT_OK(f.ReadAt(0, buf, 100));
  Status s = f.ReadAt(50, buf, 100);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "disk.img: read at offset 100: unexpected end of file");
}

TEST(PosixFileTest, OpenMissingFileIsNotFound) {
  auto r = OpenFileForRead("/nonexistent/e2q");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(),
            "/nonexistent/e2q: open: No such file or directory");
}

TEST(PosixFileTest, RefusesDirectory) {
  auto r = OpenFileForRead("/tmp");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Is a directory"), std::string::npos);
}

TEST(PosixFileTest, WriteReadTruncate) {
  char path[] = "/tmp/e2q-file-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  PosixFile f(path, fd, true);
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

TEST(StreamFileTest, FillsGapsAndRefusesBackwardWrites) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  StreamFile s("pipe", fds[1]);
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
