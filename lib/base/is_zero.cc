// IsZero: the all-zero test every sink and digest runs on each cluster.
#include "lib/base/is_zero.h"

#include <cstdint>
#include <cstring>

namespace e2q {

bool IsZero(const uint8_t* p, size_t len) {
  // The first 16 bytes by hand, then the block compared with itself 16
  // bytes further on: if byte i equals byte i + 16 everywhere and the first
  // 16 are zero, all are.  libc's memcmp does the scan with the widest
  // vectors the CPU has, and most non-zero blocks end at the first word.
  constexpr size_t kHead = 16;
  if (len < 2 * kHead) {
    for (size_t i = 0; i < len; ++i) {
      if (p[i] != 0) return false;
    }
    return true;
  }
  uint64_t w[2];
  std::memcpy(w, p, kHead);
  if ((w[0] | w[1]) != 0) return false;
  return std::memcmp(p, p + kHead, len - kHead) == 0;
}

}  // namespace e2q
