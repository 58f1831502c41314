// Helpers shared by the unit tests.
#ifndef E2Q_TESTS_UNIT_TEST_UTIL_H_
#define E2Q_TESTS_UNIT_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "lib/base/status.h"

#define ASSERT_OK(expr)                                 \
  do {                                                  \
    const ::e2q::Status s_ = (expr);                   \
    ASSERT_TRUE(s_.ok()) << #expr << ": " << s_.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                 \
  do {                                                  \
    const ::e2q::Status s_ = (expr);                   \
    EXPECT_TRUE(s_.ok()) << #expr << ": " << s_.ToString(); \
  } while (0)

// `lhs = value`, failing the test on error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                    \
  auto E2Q_CONCAT_(r_, __LINE__) = (expr);                                 \
  ASSERT_TRUE(E2Q_CONCAT_(r_, __LINE__).ok())                              \
      << #expr << ": " << E2Q_CONCAT_(r_, __LINE__).status().ToString();   \
  lhs = std::move(E2Q_CONCAT_(r_, __LINE__)).value()

namespace e2q {

// `n` pseudo-random bytes (incompressible), the same for the same seed.
inline std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

}  // namespace e2q

#endif  // E2Q_TESTS_UNIT_TEST_UTIL_H_
