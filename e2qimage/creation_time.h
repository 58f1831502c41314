// The creation time the command line records in provenance records: the
// one place that reads SOURCE_DATE_EPOCH (the library reads no
// environment).
#ifndef E2Q_E2QIMAGE_CREATION_TIME_H_
#define E2Q_E2QIMAGE_CREATION_TIME_H_

#include <cstdint>

#include "lib/base/status.h"
#include "lib/image/provenance.h"

namespace e2q::cli {

// SOURCE_DATE_EPOCH when set (reproducible output; a value that is not a
// decimal number of seconds is an error), else the current time.
Result<int64_t> CreationTime();

// image::NewProvenance with CreationTime().
Result<image::Provenance> NewProvenance(image::ImageKind kind,
                                        uint64_t guest_size);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_CREATION_TIME_H_
