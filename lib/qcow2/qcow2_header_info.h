// What a qcow2 header says, for describing an image (--info) and for the
// reader's choice of what it can read: the first cluster read and decoded
// with every feature accepted (ReadHeader), and the fields and header
// extensions that qemu-img info shows, named as qemu names them
// (DescribeHeader): feature bits, refcount width, compression type, the
// external data file and the encryption format.
#ifndef E2Q_LIB_QCOW2_QCOW2_HEADER_INFO_H_
#define E2Q_LIB_QCOW2_QCOW2_HEADER_INFO_H_

#include <cstdint>
#include <string>

#include "lib/base/status.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::qcow2 {

// Reads the header, its extensions and the backing file name from the
// first cluster of `file` and decodes them with Header::DecodeAny: no
// feature is refused, only malformed structure.
Result<Header> ReadHeader(io::File* file);

struct HeaderInfo {
  std::string compat;            // "0.10" (version 2) or "1.1" (version 3)
  std::string compression_type;  // "zlib" or "zstd", as qemu names them
  uint32_t refcount_bits = 16;
  bool dirty = false;           // incompatible bit 0
  bool corrupt = false;         // incompatible bit 1
  bool lazy_refcounts = false;  // compatible bit 0
  bool extended_l2 = false;     // incompatible bit 4
  // External data file (incompatible bit 2): its name from the data file
  // header extension ("" when the header names none) and autoclear bit 1.
  bool has_data_file = false;
  std::string data_file;
  bool data_file_raw = false;
  // Encryption (crypt_method): "" none, "aes" (1) or "luks" (2); for LUKS
  // the header extension locating the LUKS header (0 when absent).
  std::string encryption;
  uint64_t crypto_header_offset = 0;
  uint64_t crypto_header_length = 0;
  std::string backing_format;  // the backing format extension, or ""
};

// The description of `h` (as decoded by DecodeAny).  kCorruption, naming
// `name`, for extensions that qemu refuses: a data file name holding a NUL
// byte, a crypto header extension of the wrong size or on an image that is
// not LUKS-encrypted.
Result<HeaderInfo> DescribeHeader(const std::string& name, const Header& h);

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_HEADER_INFO_H_
