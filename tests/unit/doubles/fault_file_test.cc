// Tests for lib/fault_file: each kind of fault fires at the call asked
// for, with the errno asked for, and a crash freezes the wrapped file.
#include "tests/doubles/fault_file.h"

#include <cstring>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

TEST(FaultFileTest, PassesThroughWithoutFaults) {
  io::MemFile base("disk.img");
  FaultFile f(&base);
  EXPECT_EQ(f.name(), "disk.img");
  ASSERT_OK(f.WriteAt(0, "hello", 5));
  char buf[5];
  ASSERT_OK(f.ReadAt(0, buf, 5));
  EXPECT_EQ(std::memcmp(buf, "hello", 5), 0);
  ASSERT_OK(f.Truncate(10));
  ASSERT_OK(f.Sync());
  EXPECT_EQ(base.data().size(), 10u);
  EXPECT_EQ(f.writes(), 1u);
  EXPECT_EQ(f.reads(), 1u);
  EXPECT_EQ(f.truncates(), 1u);
  EXPECT_EQ(f.syncs(), 1u);
}

TEST(FaultFileTest, ShortReadsAreNotErrors) {
  io::MemFile base("disk.img", std::vector<uint8_t>(100, 7));
  FaultFile f(&base);
  f.set_max_read(3);
  uint8_t buf[100];
  ASSERT_OK_AND_ASSIGN(size_t n, f.ReadSome(0, buf, sizeof(buf)));
  EXPECT_EQ(n, 3u);
  ASSERT_OK(f.ReadAt(0, buf, sizeof(buf)));  // loops over short reads
  EXPECT_EQ(buf[99], 7);
}

TEST(FaultFileTest, ReadErrorAtTheNthCall) {
  io::MemFile base("disk.img", std::vector<uint8_t>(100, 7));
  FaultFile f(&base);
  f.AddFault({FaultFile::Op::kRead, 2, EIO, /*sticky=*/false});
  uint8_t buf[10];
  ASSERT_OK(f.ReadAt(0, buf, 10));
  ASSERT_OK(f.ReadAt(10, buf, 10));
  Status s = f.ReadAt(20, buf, 10);
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_EQ(s.message(),
            "disk.img: read at offset 20: Input/output error");
  EXPECT_OK(f.ReadAt(30, buf, 10));  // transient
}

TEST(FaultFileTest, StickyWriteErrorsWithErrno) {
  for (int err : {EIO, ENOSPC, EFBIG}) {
    io::MemFile base("out.img");
    FaultFile f(&base);
    f.AddFault({FaultFile::Op::kWrite, 1, err});
    ASSERT_OK(f.WriteAt(0, "a", 1));
    Status s = f.WriteAt(1, "b", 1);
    EXPECT_EQ(s.message(), "out.img: write at offset 1: " +
                               std::string(std::strerror(err)));
    EXPECT_FALSE(f.WriteAt(2, "c", 1).ok());
    EXPECT_EQ(base.data().size(), 1u);
  }
}

TEST(FaultFileTest, ShortWriteLeavesAPrefix) {
  io::MemFile base("out.img");
  FaultFile f(&base);
  f.AddFault({FaultFile::Op::kWrite, 0, ENOSPC, true, /*partial=*/3});
  Status s = f.WriteAt(0, "abcdef", 6);
  EXPECT_EQ(s.message(), "out.img: write at offset 3: No space left on device");
  ASSERT_EQ(base.data().size(), 3u);
  EXPECT_EQ(std::memcmp(base.data().data(), "abc", 3), 0);
}

TEST(FaultFileTest, TornWriteLeavesTheFirstHalf) {
  io::MemFile base("out.img");
  FaultFile f(&base);
  FaultFile::Fault torn;
  torn.nth = 1;
  torn.partial = 100;  // ignored: torn wins
  torn.torn = true;
  f.AddFault(torn);
  ASSERT_OK(f.WriteAt(0, "01", 2));
  Status s = f.WriteAt(2, "abcdefg", 7);  // 3 of 7 bytes reach the file
  EXPECT_EQ(s.message(), "out.img: write at offset 5: Input/output error");
  EXPECT_EQ(std::string(base.data().begin(), base.data().end()), "01abc");
  // Sticky: every later write is torn too.
  EXPECT_FALSE(f.WriteAt(5, "wxyz", 4).ok());
  EXPECT_EQ(std::string(base.data().begin(), base.data().end()), "01abcwx");
  EXPECT_EQ(f.writes(), 3u);
}

TEST(FaultFileTest, SyncAndTruncateFaults) {
  io::MemFile base("out.img");
  FaultFile f(&base);
  f.AddFault({FaultFile::Op::kSync, 0, EIO});
  f.AddFault({FaultFile::Op::kTruncate, 0, EFBIG});
  EXPECT_EQ(f.Sync().message(), "out.img: fsync: Input/output error");
  EXPECT_EQ(f.Truncate(1).message(), "out.img: set length: File too large");
}

TEST(FaultFileTest, CrashFreezesTheFile) {
  io::MemFile base("out.img");
  FaultFile f(&base);
  int hooks = 0;
  f.CrashAtWrite(2, [&] { ++hooks; });
  ASSERT_OK(f.WriteAt(0, "a", 1));
  ASSERT_OK(f.WriteAt(1, "b", 1));
  EXPECT_FALSE(f.crashed());
  EXPECT_FALSE(f.WriteAt(2, "c", 1).ok());
  EXPECT_TRUE(f.crashed());
  EXPECT_FALSE(f.WriteAt(3, "d", 1).ok());
  EXPECT_FALSE(f.Truncate(100).ok());
  EXPECT_FALSE(f.Sync().ok());
  EXPECT_EQ(hooks, 1);
  EXPECT_EQ(base.data(), std::vector<uint8_t>({'a', 'b'}));
}

// A file that says its large writes go O_DIRECT.
class DirectFile : public io::MemFile {
 public:
  using io::MemFile::MemFile;
  bool WritesDirect() const override { return true; }
};

TEST(FaultFileTest, ForwardsSizeAndWritesDirect) {
  DirectFile direct("d", std::vector<uint8_t>(9, 0));
  io::MemFile buffered("b");
  EXPECT_TRUE(FaultFile(&direct).WritesDirect());
  EXPECT_FALSE(FaultFile(&buffered).WritesDirect());
  ASSERT_OK_AND_ASSIGN(uint64_t size, FaultFile(&direct).Size());
  EXPECT_EQ(size, 9u);
}

TEST(FaultFileTest, OwnsItsBaseWhenGivenOne) {
  auto f = std::make_unique<FaultFile>(
      std::make_unique<io::MemFile>("m", std::vector<uint8_t>(4, 1)));
  ASSERT_OK_AND_ASSIGN(uint64_t size, f->Size());
  EXPECT_EQ(size, 4u);
}

std::unique_ptr<io::File> FailFirstRead(std::unique_ptr<io::File> f,
                                        io::FileRole role) {
  auto ff = std::make_unique<FaultFile>(std::move(f));
  if (role == io::FileRole::kInput)
    ff->AddFault({FaultFile::Op::kRead, 0, EIO});
  return ff;
}

TEST(FaultFileTest, InterposerWrapsOpenedFiles) {
  io::SetFileInterposer(FailFirstRead);
  auto f = io::OpenFileForRead("/proc/self/exe");
  io::SetFileInterposer(nullptr);
  ASSERT_OK(f.status());
  char c;
  EXPECT_EQ(f.value()->ReadAt(0, &c, 1).code(), Code::kIOError);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<io::File> g,
                       io::OpenFileForRead("/proc/self/exe"));
  EXPECT_OK(g->ReadAt(0, &c, 1));
}

}  // namespace
}  // namespace e2q
