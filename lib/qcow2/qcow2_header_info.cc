// ReadHeader and DescribeHeader: the header as read, and as qemu-img info
// names its fields.
#include "lib/qcow2/qcow2_header_info.h"

#include <algorithm>
#include <vector>

#include "lib/base/endian.h"

namespace e2q::qcow2 {

Result<Header> ReadHeader(io::File* file) {
  E2Q_ASSIGN_OR_RETURN(uint64_t file_size, file->Size());
  // The header and its extensions fill at most the first cluster, whose
  // size the header itself gives.
  std::vector<uint8_t> head(std::min<uint64_t>(file_size, kV3HeaderLength));
  E2Q_RETURN_IF_ERROR(file->ReadAt(0, head.data(), head.size()));
  if (head.size() >= kV2HeaderLength) {
    uint32_t bits = LoadBE32(head.data() + 20);
    if (bits >= kMinClusterBits && bits <= kMaxClusterBits) {
      head.resize(std::min<uint64_t>(file_size, uint64_t{1} << bits));
      E2Q_RETURN_IF_ERROR(file->ReadAt(0, head.data(), head.size()));
    }
  }
  return Header::DecodeAny(file->name(), head.data(), head.size());
}

Result<HeaderInfo> DescribeHeader(const std::string& name, const Header& h) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(name + ": qcow2 header: " + why);
  };
  HeaderInfo info;
  info.compat = h.version == 2 ? "0.10" : "1.1";
  info.compression_type =
      h.compression_type == kCompressionZstd ? "zstd" : "zlib";
  info.refcount_bits = 1u << h.refcount_order;
  info.dirty = h.incompatible_features & kIncompatDirty;
  info.corrupt = h.incompatible_features & kIncompatCorrupt;
  info.extended_l2 = h.incompatible_features & kIncompatExtendedL2;
  info.lazy_refcounts = h.compatible_features & kCompatLazyRefcounts;
  info.has_data_file = h.incompatible_features & kIncompatDataFile;
  info.data_file_raw = h.autoclear_features & kAutoclearDataFileRaw;
  if (h.crypt_method == kCryptAes) info.encryption = "aes";
  if (h.crypt_method == kCryptLuks) info.encryption = "luks";
  bool crypto_ext = false;
  for (const HeaderExtension& ext : h.extensions) {
    switch (ext.type) {
      case kExtDataFile:
        // qemu reads the name only when the image has a data file.
        if (!info.has_data_file) break;
        info.data_file.assign(ext.data.begin(), ext.data.end());
        if (info.data_file.find('\0') != std::string::npos) {
          return bad("data file name contains a NUL byte");
        }
        break;
      case kExtCrypto:
        if (h.crypt_method != kCryptLuks) {
          return bad(
              "crypto header extension on an image that is not "
              "LUKS-encrypted");
        }
        if (ext.data.size() != 16) {
          return bad("crypto header extension of " +
                     std::to_string(ext.data.size()) + " bytes, not 16");
        }
        info.crypto_header_offset = LoadBE64(ext.data.data());
        info.crypto_header_length = LoadBE64(ext.data.data() + 8);
        crypto_ext = true;
        break;
      case kExtBackingFormat:
        info.backing_format.assign(ext.data.begin(), ext.data.end());
        break;
      default:
        break;
    }
  }
  if (h.crypt_method == kCryptLuks && !crypto_ext) {
    return bad("LUKS-encrypted image without a crypto header extension");
  }
  return info;
}

}  // namespace e2q::qcow2
