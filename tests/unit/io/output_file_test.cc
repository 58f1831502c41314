// Tests for lib/output_file: the final name appears only on Commit().
#include "lib/io/output_file.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>

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
  // The names in the test folder.
  std::set<std::string> Names() {
    std::set<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.insert(n);
    }
    closedir(d);
    return names;
  }
  std::string dir_;
};

TEST_F(OutputFileTest, AppearsOnlyWhenCommitted) {
  std::string target = dir_ + "/image.qcow2";
  std::string temp;
  for (bool durable : {false, true}) {
    {
      ASSERT_OK_AND_ASSIGN(auto out,
                           io::OutputFile::Create(target, 0, durable));
      temp = out->temp_path();
      // On a file system with O_TMPFILE (this one: ext4 or tmpfs) the file
      // has no name at all until it is committed.
      EXPECT_EQ(temp, "");
      EXPECT_TRUE(Names().empty());
      uint8_t b = 1;
      ASSERT_OK(out->file()->WriteAt(0, &b, 1));
      ASSERT_OK(out->Commit());
      EXPECT_TRUE(Exists(target));
    }
    EXPECT_EQ(Names(), std::set<std::string>{"image.qcow2"});
    struct stat st;
    ASSERT_EQ(stat(target.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1);
    EXPECT_EQ(st.st_mode & 0777, 0644 & ~[] {
      mode_t m = umask(0);
      umask(m);
      return m;
    }());
    ASSERT_EQ(unlink(target.c_str()), 0);
  }
}

TEST_F(OutputFileTest, KilledRunLeavesNothing) {
  std::string target = dir_ + "/image.qcow2";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto out = io::OutputFile::Create(target);
    if (!out.ok()) _exit(3);
    uint8_t b[4096] = {1};
    if (!out.value()->file()->WriteAt(0, b, sizeof(b)).ok()) _exit(4);
    raise(SIGKILL);
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(Names().empty());
}

TEST_F(OutputFileTest, UncommittedLeavesNothing) {
  std::string target = dir_ + "/image.raw";
  std::string temp;
  {
    ASSERT_OK_AND_ASSIGN(auto out, io::OutputFile::Create(target));
    temp = out->temp_path();
  }
  EXPECT_FALSE(Exists(temp));
  EXPECT_FALSE(Exists(target));
}

TEST_F(OutputFileTest, ReplacesExistingFileAtomically) {
  std::string target = dir_ + "/image.raw";
  ASSERT_EQ(std::system(("echo old > " + target).c_str()), 0);
  {
    ASSERT_OK_AND_ASSIGN(auto out, io::OutputFile::Create(target));
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
  // No hidden name is left over from the replacement.
  EXPECT_EQ(Names(), std::set<std::string>{"image.raw"});
}

TEST_F(OutputFileTest, RefusesDirectoryAndMissingFolder) {
  auto r = io::OutputFile::Create(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Is a directory"), std::string::npos);
  auto r2 = io::OutputFile::Create(dir_ + "/no/such/file");
  ASSERT_FALSE(r2.ok());
}

}  // namespace
}  // namespace e2q
