# Turns one CUDA source (kernels/ops/*.cu, kernels/backends/cuda/*.cu, or a .cuh) into host C++ for the
# emulated CUDA build, leaving everything else verbatim:
#   kernel<<<grid, block[, smem[, stream]]>>>(args)
#     -> fs_emu::launch("kernel", kernel, grid, block[, smem[, stream]])(args)
#   extern __shared__ T name[];
#     -> T *const name = static_cast<T *>(fs_emu::dynamic_shared());
#   __shared__ T name[dims];
#     -> static T name[dims]; fs_emu::fresh_shared(name, sizeof name);
#     (one copy, which the blocks of a launch use in turn; poisoned when a
#     block first reaches the declaration, as a block's shared memory starts
#     out undefined)
# Line breaks are kept, and a #line directive names the original file, so
# compiler messages point at the .cu source.
#   cmake -DIN=<source> -DOUT=<translated file> -P translate_launches.cmake
if(NOT IN OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DIN=<file.cu> -DOUT=<file.cpp> -P translate_launches.cmake")
endif()
file(READ "${IN}" text)
set(ident "[A-Za-z_][A-Za-z0-9_]*")
string(REGEX REPLACE "extern[ \t]+__shared__[ \t]+(${ident})[ \t]+(${ident})[ \t]*\\[\\][ \t]*;"
       "\\1 *const \\2 = static_cast<\\1 *>(fs_emu::dynamic_shared());" text "${text}")
string(REGEX REPLACE "__shared__[ \t]+(${ident})[ \t]+(${ident})((\\[[^];]*\\])+)[ \t]*;"
       "static \\1 \\2\\3; fs_emu::fresh_shared(\\2, sizeof \\2);" text "${text}")
# The kernel name may carry template arguments (no nested <>); the launch
# configuration has no < or > (a comparison there would need parentheses anyway).
string(REGEX REPLACE "(${ident}(<[^<>;(){}]*>)?)([ \t\r\n]*)<<<([^<>;]*)>>>"
       "fs_emu::launch(\"\\1\", \\1,\\3 \\4)" text "${text}")
if(text MATCHES "<<<|>>>|__shared__")
  message(FATAL_ERROR "${IN}: a kernel launch or __shared__ declaration this translator does not understand is left (one name per __shared__ declaration)")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
