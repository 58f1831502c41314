// Warn (definition in warning.h).
#include "e2qimage/warning.h"

#include <cstdio>

namespace e2q::cli {

void Warn(const std::string& object, const std::string& what) {
  fprintf(stderr, "e2qimage: %s: warning: %s\n", object.c_str(), what.c_str());
}

}  // namespace e2q::cli
