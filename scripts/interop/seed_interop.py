#!/usr/bin/env python3
"""Independent implementation of the reference CipherMQ (seed) envelope.

Written from the reference clients' behaviour (RSA.py, Sender.py, Receiver.py
at commit 9bc8b23, see ref/seed-protocol.md section 5) using PyCryptodome as
packaged by Debian (module ``Cryptodome``; ``pip install pycryptodome`` gives
the same code under the name ``Crypto``). The Go test
clients/envelope/interop_python_test.go drives it in both directions.

Commands (all I/O is UTF-8, one JSON document per line):

  genkey DIR         write DIR/receiver_private.pem (PKCS#1) and
                     DIR/receiver_public.pem (SubjectPublicKeyInfo) like RSA.py
  seal PUBLIC_PEM    for each stdin line (a plaintext), print the envelope
                     exactly as Sender.py builds it (uuid4 id, json.dumps)
  open PRIVATE_PEM   for each stdin line "Message: <id> <json>" (the broker's
                     push line), decrypt like Receiver.py and print
                     {"message_id", "message", "dumps_identical"} or
                     {"message_id", "error"}
"""
import base64
import json
import os
import sys
import uuid

from Cryptodome.Cipher import AES, PKCS1_OAEP
from Cryptodome.PublicKey import RSA
from Cryptodome.Random import get_random_bytes


def genkey(directory):
    key = RSA.generate(2048)
    with open(os.path.join(directory, "receiver_private.pem"), "wb") as f:
        f.write(key.export_key())
    with open(os.path.join(directory, "receiver_public.pem"), "wb") as f:
        f.write(key.publickey().export_key())


def seal(public_pem_path):
    with open(public_pem_path, "rb") as f:
        public_key = RSA.import_key(f.read())
    for line in sys.stdin:
        message = line.rstrip("\n")
        session_key = get_random_bytes(16)
        enc_session_key = PKCS1_OAEP.new(public_key).encrypt(session_key)
        cipher_aes = AES.new(session_key, AES.MODE_GCM)
        ciphertext, tag = cipher_aes.encrypt_and_digest(message.encode())
        envelope = {
            "message_id": str(uuid.uuid4()),
            "enc_session_key": base64.b64encode(enc_session_key).decode(),
            "nonce": base64.b64encode(cipher_aes.nonce).decode(),
            "tag": base64.b64encode(tag).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
        print(json.dumps(envelope), flush=True)


def open_envelopes(private_pem_path):
    with open(private_pem_path, "rb") as f:
        private_key = RSA.import_key(f.read())
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        # Receiver.py: startswith("Message:"), split(" ", 2) -> id, json
        _, message_id, raw = line.split(" ", 2)
        try:
            data = json.loads(raw)
            enc_session_key = base64.b64decode(data["enc_session_key"])
            nonce = base64.b64decode(data["nonce"])
            tag = base64.b64decode(data["tag"])
            ciphertext = base64.b64decode(data["ciphertext"])
            session_key = PKCS1_OAEP.new(private_key).decrypt(enc_session_key)
            cipher_aes = AES.new(session_key, AES.MODE_GCM, nonce=nonce)
            message = cipher_aes.decrypt_and_verify(ciphertext, tag).decode("utf-8")
            print(json.dumps({
                "message_id": message_id,
                "message": message,
                "dumps_identical": json.dumps(data) == raw,
            }), flush=True)
        except Exception as e:  # the reference logs and does not ack
            print(json.dumps({"message_id": message_id, "error": repr(e)}), flush=True)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("genkey", "seal", "open"):
        sys.stderr.write(__doc__)
        return 2
    {"genkey": genkey, "seal": seal, "open": open_envelopes}[argv[1]](argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
