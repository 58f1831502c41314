// Tests for lib/qcow2/qcow2_guest_file: the File shows the reader's guest
// bytes (data, zero and compressed clusters alike), clipped at the virtual
// size; a window over it (a partition of a VM's disk) reads the same
// bytes; concurrent reads give the same answers as serial ones; writes
// fail.
#include "lib/qcow2/qcow2_guest_file.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "lib/io/window_file.h"
#include "tests/unit/qcow2/qcow2_test_image.h"
#include "tests/unit/test_util.h"

namespace e2q::qcow2 {
namespace {

constexpr uint64_t kCs = 512;

// 16 guest clusters of 512 bytes: data, zero, compressed, unallocated.
std::unique_ptr<Qcow2GuestFile> Make(std::vector<uint8_t>* want) {
  TestImage t(9, 16 * kCs);
  want->assign(16 * kCs, 0);
  auto put = [&](uint64_t gc, uint8_t fill) {
    t.AddData(gc, fill);
    std::fill_n(want->begin() + gc * kCs, kCs, fill);
  };
  put(0, 0x11);
  put(1, 0x22);
  t.AddZero(2);
  std::vector<uint8_t> c(kCs);
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<uint8_t>(i);
  t.AddCompressed(5, c);
  std::copy(c.begin(), c.end(), want->begin() + 5 * kCs);
  put(15, 0x33);
  auto r = Qcow2Reader::Open(t.BuildFile("vm.qcow2"));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::make_unique<Qcow2GuestFile>(std::move(r).value());
}

TEST(Qcow2GuestFileTest, ReadsTheGuestContent) {
  std::vector<uint8_t> want;
  auto f = Make(&want);
  EXPECT_EQ(f->name(), "vm.qcow2");
  ASSERT_OK_AND_ASSIGN(uint64_t size, f->Size());
  EXPECT_EQ(size, 16 * kCs);
  std::vector<uint8_t> got(want.size());
  ASSERT_OK(f->ReadAt(0, got.data(), got.size()));
  EXPECT_EQ(got, want);
  // Reads end at the virtual size.
  std::vector<uint8_t> tail(100);
  ASSERT_OK_AND_ASSIGN(size_t n,
                       f->ReadSome(16 * kCs - 10, tail.data(), tail.size()));
  EXPECT_EQ(n, 10u);
  ASSERT_OK_AND_ASSIGN(n, f->ReadSome(16 * kCs, tail.data(), tail.size()));
  EXPECT_EQ(n, 0u);
}

TEST(Qcow2GuestFileTest, ZeroAndUnallocatedClustersAreHoles) {
  std::vector<uint8_t> want;
  auto f = Make(&want);
  // Data 0-1, zero 2, unallocated 3-4, compressed 5, unallocated 6-14,
  // data 15.
  const std::vector<std::pair<bool, uint64_t>> expect = {
      {false, 2}, {true, 5}, {false, 6}, {true, 15}, {false, 16}};
  uint64_t at = 0;
  for (const auto& [hole, end] : expect) {
    const io::File::Stretch s = f->StretchAt(at);
    EXPECT_EQ(s.hole, hole) << at;
    EXPECT_EQ(s.end, end * kCs) << at;
    // From inside the stretch: the same end.
    EXPECT_EQ(f->StretchAt(at + 100).end, end * kCs) << at;
    at = end * kCs;
  }
  EXPECT_FALSE(f->StretchAt(16 * kCs).hole);  // past the end: data
  // Every hole reads as zeros.
  EXPECT_TRUE(std::all_of(want.begin() + 2 * kCs, want.begin() + 5 * kCs,
                          [](uint8_t b) { return b == 0; }));
}

TEST(Qcow2GuestFileTest, AWindowOverItReadsThePartition) {
  std::vector<uint8_t> want;
  auto w = io::WindowFile::Create(Make(&want), 4 * kCs + 7, 3 * kCs);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<uint8_t> got(3 * kCs);
  ASSERT_OK(w.value()->ReadAt(0, got.data(), got.size()));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin() + 4 * kCs + 7));
}

TEST(Qcow2GuestFileTest, ConcurrentReadsAgree) {
  std::vector<uint8_t> want;
  auto f = Make(&want);
  std::vector<std::thread> threads;
  std::vector<bool> ok(4, true);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(3 * kCs);
      for (int i = 0; i < 200; ++i) {
        const uint64_t off = ((i * 7 + t * 3) % 13) * kCs + i % 5;
        if (!f->ReadAt(off, buf.data(), buf.size()).ok() ||
            !std::equal(buf.begin(), buf.end(), want.begin() + off)) {
          ok[t] = false;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(ok[t]) << t;
}

TEST(Qcow2GuestFileTest, IsReadOnly) {
  std::vector<uint8_t> want;
  auto f = Make(&want);
  uint8_t b = 0;
  EXPECT_EQ(f->WriteAt(0, &b, 1).code(), Code::kNotSupported);
  EXPECT_EQ(f->Truncate(0).code(), Code::kNotSupported);
}

}  // namespace
}  // namespace e2q::qcow2
