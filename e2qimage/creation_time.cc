// CreationTime and NewProvenance (definitions in creation_time.h).
#include "e2qimage/creation_time.h"

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <string>

#include "lib/image/stamp.h"

namespace e2q::cli {

Result<int64_t> CreationTime() {
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  if (epoch == nullptr || *epoch == '\0') {
    return static_cast<int64_t>(std::time(nullptr));
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(epoch, &end, 10);
  if (errno != 0 || *end != '\0' || !(*epoch >= '0' && *epoch <= '9')) {
    return Status::InvalidArgument(std::string("SOURCE_DATE_EPOCH '") + epoch +
                                   "': not a decimal number of seconds");
  }
  return static_cast<int64_t>(v);
}

Result<image::Provenance> NewProvenance(image::ImageKind kind,
                                        uint64_t guest_size) {
  E2Q_ASSIGN_OR_RETURN(int64_t created, CreationTime());
  return image::NewProvenance(kind, guest_size, created);
}

}  // namespace e2q::cli
