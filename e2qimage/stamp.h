// Stamping qcow2 outputs: every qcow2 file e2qimage writes carries a
// provenance record (lib/image/provenance.h) with the digest of its guest
// content.  The modes fill in what they know about the source; this file
// adds what is the same everywhere (version, creation time) and wires the
// digest from the data stream into the header.
#ifndef E2Q_E2QIMAGE_STAMP_H_
#define E2Q_E2QIMAGE_STAMP_H_

#include <cstdint>
#include <memory>

#include "lib/base/status.h"
#include "lib/image/image_sink.h"
#include "lib/image/provenance.h"
#include "lib/qcow2/qcow2_writer.h"

namespace e2q::cli {

// The creation time to record: SOURCE_DATE_EPOCH when set (reproducible
// output; a value that is not a decimal number of seconds is an error),
// else the current time.
Result<int64_t> CreationTime();

// A record with the e2qimage version and the creation time filled in.
Result<image::Provenance> NewProvenance(image::ImageKind kind,
                                        uint64_t guest_size);

// Adds `record` (digest still zero) to the writer options, so that the
// writer reserves its final size and an oversized header fails at once.
void ReserveProvenance(const image::Provenance& record,
                       qcow2::WriterOptions* wo);

// A sink in front of `inner` that computes the digest of everything
// written and, when finished, stores `record` with that digest in
// `writer`'s header before the inner sink finishes the image.
Result<std::unique_ptr<image::ImageSink>> NewStampingSink(
    image::ImageSink* inner, qcow2::Qcow2Writer* writer,
    image::Provenance record);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_STAMP_H_
