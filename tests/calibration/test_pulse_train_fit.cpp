// placeholder, replaced by the real suite
#include <doctest/doctest.h>
