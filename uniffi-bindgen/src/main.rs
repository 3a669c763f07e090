//! UniFFI's bindings generator, built from the same UniFFI version as the
//! library, so generated Kotlin, Swift and Python always match it.

fn main() {
    uniffi::uniffi_bindgen_main()
}
