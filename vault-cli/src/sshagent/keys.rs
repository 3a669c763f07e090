//! From a vault `keys` item to an SSH key: which stored private keys the
//! SSH agent can serve (Ed25519 and ECDSA P-256, in PKCS#8, SEC1 or
//! unencrypted OpenSSH PEM), and their OpenSSH public key lines.

use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData};
use ssh_key::{Algorithm, EcdsaCurve, PrivateKey};
use vault_core::item::CryptoKey;
use zeroize::Zeroizing;

/// The key as an SSH private key whose comment is the item's label, or
/// `None` when it is not one the agent serves: a passkey, another
/// algorithm (RSA, P-384, ...), an encrypted OpenSSH key, or bytes that
/// do not decode.
pub fn ssh_private_key(key: &CryptoKey) -> Option<PrivateKey> {
    // A passkey belongs to its relying party, not to SSH.
    if !key.rp_id.is_empty() {
        return None;
    }
    let text = key.private_key.expose().trim_ascii();
    // OpenSSH wraps its base64 at 70 columns, which strict RFC 7468
    // decoding refuses: ssh-key reads it instead.
    let data = if text.starts_with(OPENSSH_BEGIN) {
        let parsed = PrivateKey::from_openssh(text).ok()?;
        if parsed.is_encrypted() {
            return None;
        }
        parsed.key_data().clone()
    } else {
        let (label, der) = pem_rfc7468::decode_vec(text).ok()?;
        let der = Zeroizing::new(der);
        match label {
            "PRIVATE KEY" => pkcs8(&der)?,
            "EC PRIVATE KEY" => p256_keypair(p256::SecretKey::from_sec1_der(&der).ok()?),
            _ => return None,
        }
    };
    if !supported(&data.algorithm().ok()?) {
        return None;
    }
    PrivateKey::new(data, key.label.clone()).ok()
}

/// How an OpenSSH private key file begins.
pub const OPENSSH_BEGIN: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY-----";

/// The OpenSSH public key line (`ssh-ed25519 AAAA... label`) of a key the
/// agent can serve.
pub fn public_key_line(key: &CryptoKey) -> Option<String> {
    ssh_private_key(key)?.public_key().to_openssh().ok()
}

/// Whether the agent serves keys of this algorithm.
fn supported(alg: &Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::Ed25519
            | Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256
            }
    )
}

/// A PKCS#8 document holding an Ed25519 or P-256 key.
fn pkcs8(der: &[u8]) -> Option<KeypairData> {
    if let Ok(signing) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
        let seed = Zeroizing::new(signing.to_bytes());
        return Some(KeypairData::Ed25519(Ed25519Keypair::from_seed(&seed)));
    }
    use p256::pkcs8::DecodePrivateKey as _;
    Some(p256_keypair(p256::SecretKey::from_pkcs8_der(der).ok()?))
}

fn p256_keypair(secret: p256::SecretKey) -> KeypairData {
    let public = secret.public_key().to_encoded_point(false);
    KeypairData::Ecdsa(EcdsaKeypair::NistP256 {
        public,
        private: secret.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::LineEnding;

    fn item(pem: &[u8]) -> CryptoKey {
        CryptoKey {
            label: "laptop key".into(),
            key_type: "pkcs8".into(),
            private_key: pem.to_vec().into(),
            ..CryptoKey::default()
        }
    }

    fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        pem.as_bytes().to_vec()
    }

    #[test]
    fn ed25519_pkcs8_becomes_an_ssh_key_named_by_its_label() {
        let key = ssh_private_key(&item(&ed25519_pkcs8([7; 32]))).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Ed25519);
        assert_eq!(key.comment(), "laptop key");
        let line = public_key_line(&item(&ed25519_pkcs8([7; 32]))).unwrap();
        assert!(
            line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"),
            "{line}"
        );
        assert!(line.ends_with(" laptop key"), "{line}");
        // The same seed, the same public key; another seed, another key.
        let other = public_key_line(&item(&ed25519_pkcs8([8; 32]))).unwrap();
        assert_ne!(line, other);
    }

    #[test]
    fn p256_in_sec1_pkcs8_and_openssh_form_is_served() {
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = p256::SecretKey::from_slice(&[3; 32]).unwrap();
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let openssh = PrivateKey::new(p256_keypair(secret.clone()), "")
            .unwrap()
            .to_openssh(LineEnding::LF)
            .unwrap();
        let lines: Vec<String> = [sec1.as_bytes(), pkcs8.as_bytes(), openssh.as_bytes()]
            .iter()
            .map(|pem| public_key_line(&item(pem)).unwrap())
            .collect();
        assert!(lines[0].starts_with("ecdsa-sha2-nistp256 "), "{}", lines[0]);
        assert_eq!(lines[0], lines[1]);
        assert_eq!(lines[0], lines[2]);
    }

    #[test]
    fn other_keys_passkeys_and_junk_are_skipped() {
        let mut passkey = item(&ed25519_pkcs8([1; 32]));
        passkey.rp_id = "example.com".into();
        assert!(ssh_private_key(&passkey).is_none());
        assert!(ssh_private_key(&item(b"not a key")).is_none());
        let p384 = p384_sec1();
        assert!(ssh_private_key(&item(p384.as_bytes())).is_none());
        let encrypted = ENCRYPTED_ED25519;
        assert!(ssh_private_key(&item(encrypted.as_bytes())).is_none());
    }

    /// A P-384 key in SEC1 PEM (the agent does not serve P-384); a test
    /// key, made for this test only.
    fn p384_sec1() -> String {
        "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDCskSbS5yT3YkbD9R37I5fw4tQ+252h9i6Wy+eMSgnKQMvL/AyS4COW
v52aiVKCFF2gBwYFK4EEACKhZANiAATuJwn6VdYDcQMlmuW+fOKYIXK/vADg2r2D
aUzQ+sT8uXjLqeKRRUMU7P2T26CFi86DgDJCeMHYaFVXLJn3fP1SmG50XEOFsN2Y
SVxgOryGoxdghI6lHuxluOItc/s33cg=
-----END EC PRIVATE KEY-----
"
        .to_owned()
    }

    /// An Ed25519 OpenSSH key encrypted with the passphrase `testpw`
    /// (`ssh-keygen -t ed25519 -N testpw`), made for this test only.
    const ENCRYPTED_ED25519: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCz0yPMNY
USMmdHkb1TOZLkAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIFmJQDGSV4tPBzKx
XetB955BSrX1J9FZ/8OhxCNoASl4AAAAkMTC0O3r555zaVJe+62/G8wHOjta1A7I0XZWqx
/ps/7k3hbXCs6d3I25UW9L6x3vrbZIz0gxn7RKvn+YawgRdrxH7MXcp3ajdljwBt/z8vU/
k/ucdcgq6k5oEba5Srx1ZDPGhFnsAkY+OjbU3nNbVmqcbO9oLtt/p1wuekUijLpJHFnHb8
iyv3P2WKfGw1Pp9Q==
-----END OPENSSH PRIVATE KEY-----
";
}
