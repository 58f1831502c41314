// The base of an incremental export (--backing=BASE): opening it where qemu
// will look for it, and checking from its provenance record that it is an
// e2qimage export of the same filesystem and, for -x ID1..ID2, of snapshot
// ID1.  The record of the image being written gets the base's fields.
#ifndef E2Q_LIB_IMAGE_BACKING_BASE_H_
#define E2Q_LIB_IMAGE_BACKING_BASE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lib/base/status.h"
#include "lib/image/provenance.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::image {

// Where qemu looks for backing file `backing` of the image at `image`: as
// is when absolute, else relative to the image's directory.
std::string BackingPath(const std::string& image, const std::string& backing);

// What the base must be.
struct BaseExpectation {
  std::array<uint8_t, 16> fs_uuid{};  // the source filesystem's UUID
  std::string fs_name;                // the source, for messages
  // -x ID1..ID2: the base must hold the state of next3 snapshot ID1 (and
  // not the live filesystem); nullopt for a live incremental export, which
  // accepts any export of the filesystem.
  std::optional<uint32_t> snapshot_id;
};

// Opens `backing` (as named on the command line for the output `image`),
// checks it against `want`, and sets `record`'s kind to incremental and its
// base digest and base snapshot IDs.  Refusals are kInvalidArgument with a
// message "BACKING: --backing: why".
Result<std::unique_ptr<qcow2::Qcow2Reader>> OpenBase(
    const std::string& image, const std::string& backing,
    const BaseExpectation& want, Provenance* record);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_BACKING_BASE_H_
