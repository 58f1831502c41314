// LockImage between open file descriptions of one file (OFD locks conflict
// between descriptions even within one process), and --force-share.
#include "lib/io/image_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace e2q::io {
namespace {

class ImageLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/e2q-image-lock-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
    // Where the file system has no OFD locks, LockImage takes none.
    int a = Open(), b = Open();
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 100;
    fl.l_len = 1;
    have_ofd_ =
        ::fcntl(a, F_OFD_SETLK, &fl) == 0 && ::fcntl(b, F_OFD_SETLK, &fl) != 0;
    ::close(a);
    ::close(b);
  }
  void TearDown() override {
    SetForceShare(false);
    ::unlink(path_.c_str());
  }
  int Open() { return ::open(path_.c_str(), O_RDWR | O_CLOEXEC); }

  std::string path_;
  bool have_ofd_ = false;
};

TEST_F(ImageLockTest, ReadersShareAWriterExcludesThem) {
  if (!have_ofd_) GTEST_SKIP() << "no OFD locks on /tmp";
  int r1 = Open(), r2 = Open(), w = Open();
  EXPECT_TRUE(LockImage(r1, "img", LockIntent::kRead).ok());
  EXPECT_TRUE(LockImage(r2, "img", LockIntent::kRead).ok());
  Status s = LockImage(w, "img", LockIntent::kWrite);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("img: Failed to get \"write\" lock"),
            std::string::npos)
      << s.message();
  ::close(r1);
  ::close(r2);
  // The readers are gone, and the failed attempt left no lock behind.
  EXPECT_TRUE(LockImage(w, "img", LockIntent::kWrite).ok());
  int r3 = Open();
  s = LockImage(r3, "img", LockIntent::kRead);
  EXPECT_NE(s.message().find("img: Failed to get shared \"write\" lock"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--force-share"), std::string::npos);
  ::close(r3);
  ::close(w);
}

TEST_F(ImageLockTest, TwoWritersConflict) {
  if (!have_ofd_) GTEST_SKIP() << "no OFD locks on /tmp";
  int w1 = Open(), w2 = Open();
  EXPECT_TRUE(LockImage(w1, "img", LockIntent::kWrite).ok());
  EXPECT_FALSE(LockImage(w2, "img", LockIntent::kWrite).ok());
  ::close(w1);
  EXPECT_TRUE(LockImage(w2, "img", LockIntent::kWrite).ok());
  ::close(w2);
}

TEST_F(ImageLockTest, ForceShareReadsButNeverWrites) {
  if (!have_ofd_) GTEST_SKIP() << "no OFD locks on /tmp";
  int w = Open(), r = Open(), w2 = Open();
  ASSERT_TRUE(LockImage(w, "img", LockIntent::kWrite).ok());
  SetForceShare(true);
  EXPECT_TRUE(LockImage(r, "img", LockIntent::kRead).ok());
  EXPECT_FALSE(LockImage(w2, "img", LockIntent::kWrite).ok());
  ::close(w);
  // A forced read took no lock: a writer may come.
  EXPECT_TRUE(LockImage(w2, "img", LockIntent::kWrite).ok());
  ::close(r);
  ::close(w2);
}

}  // namespace
}  // namespace e2q::io
