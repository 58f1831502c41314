// Tests for lib/output_file: the final name appears only on Commit().
#include "lib/output_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/e2q-out-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  bool Exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
  }
  std::string dir_;
};

TEST_F(OutputFileTest, AppearsOnlyWhenCommitted) {
  std::string target = dir_ + "/image.qcow2";
  std::string temp;
  {
    ASSERT_OK_AND_ASSIGN(auto out, OutputFile::Create(target));
    temp = out->temp_path();
    EXPECT_TRUE(Exists(temp));
    EXPECT_FALSE(Exists(target));
    uint8_t b = 1;
    ASSERT_OK(out->file()->WriteAt(0, &b, 1));
    ASSERT_OK(out->Commit());
    EXPECT_TRUE(Exists(target));
  }
  EXPECT_FALSE(Exists(temp));
  EXPECT_TRUE(Exists(target));
}

TEST_F(OutputFileTest, UncommittedLeavesNothing) {
  std::string target = dir_ + "/image.raw";
  std::string temp;
  {
    ASSERT_OK_AND_ASSIGN(auto out, OutputFile::Create(target));
    temp = out->temp_path();
  }
  EXPECT_FALSE(Exists(temp));
  EXPECT_FALSE(Exists(target));
}

TEST_F(OutputFileTest, ReplacesExistingFileAtomically) {
  std::string target = dir_ + "/image.raw";
  ASSERT_EQ(std::system(("echo old > " + target).c_str()), 0);
  {
    ASSERT_OK_AND_ASSIGN(auto out, OutputFile::Create(target));
    // Until commit, the old file is intact.
    struct stat st;
    ASSERT_EQ(stat(target.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 4);
    uint8_t b[10] = {};
    ASSERT_OK(out->file()->WriteAt(0, b, 10));
    ASSERT_OK(out->Commit());
  }
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 10);
}

TEST_F(OutputFileTest, RefusesDirectoryAndMissingFolder) {
  auto r = OutputFile::Create(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Is a directory"), std::string::npos);
  auto r2 = OutputFile::Create(dir_ + "/no/such/file");
  ASSERT_FALSE(r2.ok());
}

}  // namespace
}  // namespace e2q
