//! The `pem_decrypt` seeds are what they claim: the ones openssl encrypted with the fuzz
//! secret decrypt with it, the wrong-secret one does not, the broken ones are errors. (So
//! the fuzzer starts from inputs that reach the decryption and the key parsing.)

use std::path::Path;

use extsvc_fuzz::pem_decrypt::SECRET;
use extsvc_tls::internal::split_encrypted_key;

#[test]
fn seeds_decrypt_as_named() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/pem_decrypt");
    for (name, decrypts) in [
        ("tyk_ec_sec1_aes256", true),
        ("tyk_ec_pkcs8_aes192", true),
        ("tyk_rsa_pkcs1_des3", true),
        ("openssl_ec_sec1_aes128", true),
        ("tyk_wrong_secret", false),
    ] {
        let data = std::fs::read(folder.join(name)).unwrap();
        let key = split_encrypted_key(&data).encrypted.expect(name).expect(name);
        assert_eq!(key.decrypt(SECRET.as_bytes()).is_ok(), decrypts, "{name}");
    }
    for name in ["short_iv", "pkcs8_pbes2"] {
        let data = std::fs::read(folder.join(name)).unwrap();
        assert!(split_encrypted_key(&data).encrypted.expect(name).is_err(), "{name}");
    }
}
