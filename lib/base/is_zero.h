// IsZero: whether a buffer holds only zero bytes.  Sinks leave such
// clusters unallocated, digests skip them; it sits here, below them all.
#ifndef E2Q_LIB_BASE_IS_ZERO_H_
#define E2Q_LIB_BASE_IS_ZERO_H_

#include <cstddef>
#include <cstdint>

namespace e2q {

// True when all `len` bytes at `p` are zero.
bool IsZero(const uint8_t* p, size_t len);

}  // namespace e2q

#endif  // E2Q_LIB_BASE_IS_ZERO_H_
