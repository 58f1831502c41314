// LooksIncompressible (see incompressible.h).
#include "lib/qcow2/incompressible.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace e2q::qcow2 {

namespace {

constexpr size_t kMinCluster = 64 << 10;
// About this many samples whatever the cluster size: 64 KiB / 13.
constexpr size_t kSamples = 5041;
// The entropy, in bits per byte, of kSamples random bytes as counted here
// is 8 - 255 / (2 kSamples ln 2) = 7.9635 on average, with a standard
// deviation of about 0.003: 7.955 lets 99% of random clusters through.
// Compressible data lies far below (libraries about 5.5, text 4.5-5).
constexpr double kRandomBits = 7.955;
// After the first kEarlySamples, an entropy below kEarlyBits ends the test:
// most clusters are decided on a fifth of the samples.
constexpr size_t kEarlySamples = 1024;
constexpr double kEarlyBits = 7.7;
constexpr size_t kBlock = 4096;

double Entropy(const std::array<uint32_t, 256>& counts, size_t n) {
  double bits = 0;
  for (uint32_t c : counts) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / static_cast<double>(n);
    bits -= p * std::log2(p);
  }
  return bits;
}

bool HasEqualBlocks(const uint8_t* data, size_t len) {
  std::vector<uint64_t> hashes;
  hashes.reserve(len / kBlock);
  for (size_t off = 0; off < len; off += kBlock) {
    hashes.push_back(XXH3_64bits(data + off, kBlock));
  }
  std::sort(hashes.begin(), hashes.end());
  // Equal hashes of unequal blocks are as good as a repeat here: the
  // cluster is then compressed, as it would have been without this test.
  return std::adjacent_find(hashes.begin(), hashes.end()) != hashes.end();
}

}  // namespace

bool LooksIncompressible(const uint8_t* data, size_t len) {
  if (len < kMinCluster) return false;
  // An odd stride: a power-of-two record size never maps every sample onto
  // the same field.
  const size_t stride = (len / kSamples) | 1;
  std::array<uint32_t, 256> counts{};
  size_t n = 0;
  for (size_t off = 0; off < len; off += stride) {
    ++counts[data[off]];
    if (++n == kEarlySamples && Entropy(counts, n) < kEarlyBits) return false;
  }
  if (Entropy(counts, n) < kRandomBits) return false;
  return !HasEqualBlocks(data, len);
}

}  // namespace e2q::qcow2
