// Tests for lib/io/same_file: names of the same bytes are recognised
// through symlinks, hard links, /dev/fd/N and loop devices; different
// files are not confused.
#include "lib/io/same_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

class SameFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/e2q-same-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    a_ = dir_ + "/a.img";
    b_ = dir_ + "/b.img";
    std::ofstream(a_) << "a";
    std::ofstream(b_) << "b";
  }
  void TearDown() override {
    if (!loop_.empty()) {
      std::string cmd = "losetup -d " + loop_;
      EXPECT_EQ(std::system(cmd.c_str()), 0);
    }
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  io::Storage Id(const std::string& path) {
    auto r = io::IdentifyPath(path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r.ok() && r.value().has_value()) << path;
    return r.ok() && r.value() ? *r.value() : io::Storage();
  }
  std::string dir_, a_, b_, loop_;
};

TEST_F(SameFileTest, DifferentFilesShareNothing) {
  EXPECT_FALSE(io::SharedStorage(Id(a_), Id(b_)));
}

TEST_F(SameFileTest, SameName) {
  auto how = io::SharedStorage(Id(a_), Id(a_));
  ASSERT_TRUE(how);
  EXPECT_EQ(*how, "the same file as " + a_);
}

TEST_F(SameFileTest, Symlink) {
  const std::string link = dir_ + "/link";
  ASSERT_EQ(symlink("a.img", link.c_str()), 0);
  EXPECT_TRUE(io::SharedStorage(Id(link), Id(a_)));
  EXPECT_FALSE(io::SharedStorage(Id(link), Id(b_)));
}

TEST_F(SameFileTest, HardLink) {
  const std::string hard = dir_ + "/hard";
  ASSERT_EQ(link(a_.c_str(), hard.c_str()), 0);
  EXPECT_TRUE(io::SharedStorage(Id(hard), Id(a_)));
}

TEST_F(SameFileTest, DevFd) {
  int fd = open(a_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(io::SharedStorage(Id("/dev/fd/" + std::to_string(fd)), Id(a_)));
  ASSERT_OK_AND_ASSIGN(io::Storage by_fd, io::IdentifyFd(fd, "fd"));
  EXPECT_TRUE(io::SharedStorage(by_fd, Id(a_)));
  EXPECT_FALSE(io::SharedStorage(by_fd, Id(b_)));
  close(fd);
}

TEST_F(SameFileTest, MissingPathIsNothing) {
  auto r = io::IdentifyPath(dir_ + "/none");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value().has_value());
}

TEST_F(SameFileTest, LoopDeviceIsItsBackingFile) {
  if (geteuid() != 0 || access("/dev/loop-control", W_OK) != 0) {
    GTEST_SKIP() << "needs root and loop devices";
  }
  ASSERT_EQ(truncate(a_.c_str(), 1 << 20), 0);
  const std::string cmd = "losetup -f --show " + a_;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {0};
  if (fgets(buf, sizeof(buf), p) == nullptr) buf[0] = '\0';
  if (pclose(p) != 0 || buf[0] == '\0') GTEST_SKIP() << "losetup failed";
  loop_ = buf;
  loop_.erase(loop_.find_last_not_of("\n") + 1);

  auto how = io::SharedStorage(Id(loop_), Id(a_));
  ASSERT_TRUE(how);
  EXPECT_EQ(*how, "a loop device backed by " + a_);
  how = io::SharedStorage(Id(a_), Id(loop_));
  ASSERT_TRUE(how);
  EXPECT_EQ(*how, "the backing file of loop device " + loop_);
  EXPECT_FALSE(io::SharedStorage(Id(loop_), Id(b_)));
  // Through a symlink to the file, too.
  const std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(a_.c_str(), link.c_str()), 0);
  EXPECT_TRUE(io::SharedStorage(Id(link), Id(loop_)));
}

}  // namespace
}  // namespace e2q
