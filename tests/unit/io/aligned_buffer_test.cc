// AllocateTouched: zero-filled, aligned for O_DIRECT (and to 2 MiB from
// 2 MiB on, so that huge pages can back it), and every page of it in
// memory before the first read into it (mincore), which is what lets
// io::SlowReads time reads and not page faults.
#include "lib/io/aligned_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tests/unit/test_util.h"

namespace e2q {
namespace {

TEST(AllocateTouchedTest, ZeroedAlignedAndResident) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (size_t size :
       {size_t{100} << 10, (size_t{2} << 20) - 4096, size_t{2} << 20,
        (size_t{2} << 20) + 4096, size_t{5} << 20}) {
    io::AlignedBytes p = io::AllocateTouched(size);
    const auto addr = reinterpret_cast<uintptr_t>(p.get());
    EXPECT_EQ(addr % io::kDirectIoAlignment, 0u) << size;
    if (size >= io::kHugePageBytes) {
      EXPECT_EQ(addr % io::kHugePageBytes, 0u) << size;
    }
    // Before anything here reads it (a read would map the zero page).
    std::vector<unsigned char> resident((size + page - 1) / page);
    ASSERT_EQ(::mincore(p.get(), size, resident.data()), 0) << size;
    EXPECT_TRUE(std::all_of(resident.begin(), resident.end(),
                            [](unsigned char r) { return (r & 1) != 0; }))
        << size;
    EXPECT_TRUE(std::all_of(p.get(), p.get() + size, [](uint8_t b) {
      return b == 0;
    })) << size;
  }
}

}  // namespace
}  // namespace e2q
