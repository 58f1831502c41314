// Tests for lib/forwarding_file: every File call reaches the inner file with
// the same arguments, and its result or error comes back unchanged; a
// wrapper that overrides one call still forwards the others.
#include "lib/io/forwarding_file.h"

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

// A File that records each call and answers as told: with an error when
// `fail` is set, else with fixed values.
class ScriptedFile : public io::File {
 public:
  explicit ScriptedFile(bool direct) : io::File("inner.img"), direct_(direct) {}

  Result<size_t> ReadSome(uint64_t offset, void* buf, size_t len) override {
    Log("read " + std::to_string(offset) + " " + std::to_string(len));
    if (fail) return Error("read");
    std::memset(buf, 'r', len / 2);
    return len / 2;  // a short read: must come back as such
  }
  Status WriteAt(uint64_t offset, const void* buf, size_t len) override {
    Log("write " + std::to_string(offset) + " " +
        std::string(static_cast<const char*>(buf), len));
    return fail ? Error("write") : Status::OK();
  }
  Status Sync() override {
    Log("sync");
    return fail ? Error("fsync") : Status::OK();
  }
  Result<uint64_t> Size() override {
    Log("size");
    if (fail) return Error("size");
    return uint64_t{12345};
  }
  Status Truncate(uint64_t size) override {
    Log("truncate " + std::to_string(size));
    return fail ? Error("set length") : Status::OK();
  }
  bool WritesDirect() const override {
    calls.push_back("direct");
    return direct_;
  }
  Status ZeroRange(uint64_t offset, uint64_t len) override {
    Log("zero " + std::to_string(offset) + " " + std::to_string(len));
    return fail ? Error("zero") : Status::OK();
  }
  void Prefetch(uint64_t offset, uint64_t len) override {
    Log("prefetch " + std::to_string(offset) + " " + std::to_string(len));
  }
  int64_t ReadWaits() const override {
    calls.push_back("waits");
    return 17;
  }
  Stretch StretchAt(uint64_t offset) override {
    Log("stretch " + std::to_string(offset));
    return {true, offset + 4096};
  }
  bool Reserve(uint64_t offset, uint64_t len) override {
    Log("reserve " + std::to_string(offset) + " " + std::to_string(len));
    return !fail;
  }

  bool fail = false;
  mutable std::vector<std::string> calls;

 private:
  void Log(std::string call) { calls.push_back(std::move(call)); }
  Status Error(const std::string& op) const {
    return Status::FromErrno(name(), op, ENOSPC);
  }
  bool direct_;
};

using Calls = std::vector<std::string>;

TEST(ForwardingFileTest, EveryCallReachesTheInnerFile) {
  for (bool direct : {false, true}) {
    ScriptedFile inner(direct);
    io::ForwardingFile f(&inner);
    EXPECT_EQ(f.name(), "inner.img");
    EXPECT_EQ(f.base(), &inner);

    char buf[8] = {};
    ASSERT_OK_AND_ASSIGN(size_t n, f.ReadSome(100, buf, 8));
    EXPECT_EQ(n, 4u);
    EXPECT_EQ(std::string(buf, 5), std::string("rrrr\0", 5));
    EXPECT_OK(f.WriteAt(7, "abc", 3));
    EXPECT_OK(f.Sync());
    ASSERT_OK_AND_ASSIGN(uint64_t size, f.Size());
    EXPECT_EQ(size, 12345u);
    EXPECT_OK(f.Truncate(99));
    EXPECT_EQ(f.WritesDirect(), direct);
    EXPECT_OK(f.ZeroRange(4096, 8192));
    f.Prefetch(512, 1024);
    EXPECT_EQ(f.ReadWaits(), 17);
    const io::File::Stretch st = f.StretchAt(8192);
    EXPECT_TRUE(st.hole);
    EXPECT_EQ(st.end, 12288u);
    EXPECT_TRUE(f.Reserve(65536, 4096));
    EXPECT_EQ(inner.calls,
              (Calls{"read 100 8", "write 7 abc", "sync", "size", "truncate 99",
                     "direct", "zero 4096 8192", "prefetch 512 1024", "waits",
                     "stretch 8192", "reserve 65536 4096"}));
  }
}

TEST(ForwardingFileTest, ErrorsComeBackUnchanged) {
  ScriptedFile inner(false);
  inner.fail = true;
  io::ForwardingFile f(&inner);
  char buf[4];
  auto r = f.ReadSome(0, buf, 4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIOError);
  EXPECT_EQ(r.status().message(), "inner.img: read: No space left on device");
  EXPECT_EQ(f.WriteAt(0, "x", 1).message(),
            "inner.img: write: No space left on device");
  EXPECT_EQ(f.Sync().message(), "inner.img: fsync: No space left on device");
  EXPECT_EQ(f.Size().status().message(),
            "inner.img: size: No space left on device");
  EXPECT_EQ(f.Truncate(1).message(),
            "inner.img: set length: No space left on device");
  EXPECT_EQ(f.ZeroRange(0, 1).message(),
            "inner.img: zero: No space left on device");
  EXPECT_EQ(inner.calls.size(), 6u);
}

TEST(ForwardingFileTest, ReadAtLoopsThroughTheInnerFile) {
  // ReadAt is File's own loop over ReadSome: through the wrapper it sees
  // the inner file's short reads and its end of file.
  io::MemFile inner("mem.img", std::vector<uint8_t>{1, 2, 3, 4, 5});
  io::ForwardingFile f(&inner);
  uint8_t buf[5];
  ASSERT_OK(f.ReadAt(0, buf, 5));
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 5), inner.data());
  Status s = f.ReadAt(3, buf, 4);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "mem.img: read at offset 5: unexpected end of file");
  ASSERT_OK(f.WriteAt(5, "\x06", 1));
  ASSERT_OK(f.Truncate(7));
  EXPECT_EQ(inner.data(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 0}));
}

// Overrides one call; the others still reach the inner file.
class NoSync : public io::ForwardingFile {
 public:
  using io::ForwardingFile::ForwardingFile;
  Status Sync() override { return Status::OK(); }
};

TEST(ForwardingFileTest, ADerivedWrapperForwardsWhatItDoesNotOverride) {
  ScriptedFile inner(true);
  NoSync f(&inner);
  EXPECT_OK(f.Sync());
  EXPECT_OK(f.Truncate(3));
  EXPECT_TRUE(f.WritesDirect());
  EXPECT_EQ(inner.calls, (Calls{"truncate 3", "direct"}));
}

}  // namespace
}  // namespace e2q
