/*
 * Run-time choice of a kernel's instruction set. Header-only.
 *
 *     typedef double (*my_kernel_fn)(const my_job *J);
 *     LP__DEFINE_KERNELS(my_kernel_fn, my_kernel, double, (const my_job *J),
 *                        { return my_run(J); })
 *
 * defines, from one body, `static double my_kernel_base(const my_job *J)`
 * (the baseline ISA), on x86-64 with GCC or Clang also `my_kernel_avx2`
 * (compiled for AVX2 and FMA), and `static my_kernel_fn my_kernel_pick(void)`,
 * which returns the widest of them this CPU runs. Call the pick once (at
 * create) and keep the pointer. The body is usually a call of an always-inline
 * function, so that each copy is compiled for its own target.
 */
#ifndef LP_COMMON_DISPATCH_H
#define LP_COMMON_DISPATCH_H

#if defined(__GNUC__) && defined(__x86_64__)

#define LP__DEFINE_KERNELS(fn_type, name, ret, params, ...)                                        \
    static ret name##_base params __VA_ARGS__ __attribute__((target(                               \
        "avx2,fma"))) static ret name##_avx2 params __VA_ARGS__ static fn_type name##_pick(void) { \
        __builtin_cpu_init();                                                                      \
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))                       \
            return name##_avx2;                                                                    \
        return name##_base;                                                                        \
    }

#else

#define LP__DEFINE_KERNELS(fn_type, name, ret, params, ...)                                        \
    static ret name##_base params __VA_ARGS__ static fn_type name##_pick(void) {                   \
        return name##_base;                                                                        \
    }

#endif

#endif /* LP_COMMON_DISPATCH_H */
