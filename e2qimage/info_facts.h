// What --info shows about an image, gathered once (GatherInfo) and printed
// either as lines (info_mode.cc) or as one JSON object (info_json.cc), so
// that the two forms cannot disagree.  The image is opened for describing
// only (Qcow2Reader's layout_only): encrypted images and images whose
// external data file is missing are described, not refused.
#ifndef E2Q_E2QIMAGE_INFO_FACTS_H_
#define E2Q_E2QIMAGE_INFO_FACTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/image/base_guard.h"
#include "lib/image/content_digest.h"
#include "lib/image/provenance.h"
#include "lib/qcow2/qcow2_header_info.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::cli {

struct BackingLink {
  std::string name;       // as written in the header
  std::string format;     // "raw" or "qcow2" (given or probed)
  std::string opened_as;  // the resolved path
};

struct InfoFacts {
  std::string path;
  qcow2::Header header;
  qcow2::HeaderInfo header_info;
  qcow2::Qcow2Reader::ClusterCounts clusters;
  std::vector<qcow2::SnapshotEntry> snapshots;
  uint64_t actual_size = 0;  // bytes allocated to the file (st_blocks)
  // The backing chain as opened; backing_error is set when it cannot be.
  std::vector<BackingLink> backing_chain;
  std::string backing_error;
  std::optional<image::Provenance> provenance;
  std::optional<image::BaseGuard> base_guard;  // increments (-I's guard)
};

Result<InfoFacts> GatherInfo(const std::string& path);

inline std::string DigestText(const image::Digest128& d) {
  return "xxh3-128:" + image::DigestHex(d);
}

// The JSON forms of --info and --verify (doc/e2qimage.8, "JSON OUTPUT").
std::string InfoJson(const InfoFacts& facts);
struct VerifyResult {
  std::string path;
  bool match = false;
  image::Digest128 recorded{};
  image::Digest128 computed{};
};
std::string VerifyJson(const VerifyResult& result);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_INFO_FACTS_H_
