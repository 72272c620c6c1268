// Status -> Python exception, through the one table in mlship/_errors.py.
#include "errors.h"

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace mlship::bindings {

void ThrowStatus(const Status& status) {
  // The classes live in Python so users can import and catch them; the
  // module is cached in sys.modules, so this lookup is cheap on error paths.
  py::object cls = py::module_::import("mlship._errors").attr("error_class")(std::string(StatusCodeName(status.code())));
  PyErr_SetString(cls.ptr(), status.message().c_str());
  throw py::error_already_set();
}

}  // namespace mlship::bindings
