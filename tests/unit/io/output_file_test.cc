// Tests for lib/output_file: the final name appears only on Commit().
#include "lib/io/output_file.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
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

// The first number in a /proc file, read here with stdio.
uint64_t ReadProc(const char* path) {
  unsigned long long v = 0;
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%llu", &v) != 1) v = 0;
  std::fclose(f);
  return v;
}

TEST(BufferedWriteLimitTest, IsTheDirtyLimitAndAtLeastOneGiB) {
  const uint64_t limit = io::OutputFile::BufferedWriteLimit();
  EXPECT_GE(limit, io::OutputFile::kDirectWriteThreshold);
  const uint64_t bytes = ReadProc("/proc/sys/vm/dirty_bytes");
  if (bytes != 0) {
    EXPECT_EQ(limit, std::max(bytes, io::OutputFile::kDirectWriteThreshold));
    return;
  }
  // dirty_ratio percent of MemAvailable, which moves while the test runs.
  const uint64_t ratio = ReadProc("/proc/sys/vm/dirty_ratio");
  unsigned long long avail_kb = 0;
  FILE* f = std::fopen("/proc/meminfo", "r");
  ASSERT_NE(f, nullptr);
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "MemAvailable: %llu kB", &avail_kb) == 1) break;
  }
  std::fclose(f);
  const double want = std::max<double>(ratio * avail_kb * 1024.0 / 100,
                                       io::OutputFile::kDirectWriteThreshold);
  EXPECT_NEAR(static_cast<double>(limit), want, want * 0.05);
}

TEST_F(OutputFileTest, LargeOutputsAreWrittenDirectDurableOrNot) {
  const std::string target = dir_ + "/image.qcow2";
  // Whether this file system takes O_DIRECT at all: a durable output of
  // unknown size asks for it.
  bool direct_here;
  {
    ASSERT_OK_AND_ASSIGN(auto out, io::OutputFile::Create(target, 0, true));
    direct_here = out->file()->WritesDirect();
  }
  if (!direct_here) GTEST_SKIP() << dir_ << " refuses O_DIRECT";
  const uint64_t limit = io::OutputFile::BufferedWriteLimit();
  struct Case {
    uint64_t expected;
    bool durable;
    bool direct;
  };
  for (const Case& c :
       {Case{limit * 2, false, true}, Case{limit / 2, false, false},
        Case{0, false, false}, Case{1 << 20, true, false},
        Case{io::OutputFile::kDirectWriteThreshold, true, true}}) {
    ASSERT_OK_AND_ASSIGN(auto out,
                         io::OutputFile::Create(target, c.expected, c.durable));
    EXPECT_EQ(out->file()->WritesDirect(), c.direct)
        << c.expected << " bytes, durable " << c.durable;
  }
}

}  // namespace
}  // namespace e2q
