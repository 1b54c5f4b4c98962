#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coupon_book_fuzz::upload_lines(data));
