// Tests for lib/copy_pipeline; being written.
#include <gtest/gtest.h>
