// SHA-256 (FIPS 180-4) for the generator's manifests: the expected digests
// must not depend on an external tool, and the test tool may not link a
// crypto library the product does not need.
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_SHA256_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace n3g {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_SHA256_H_
