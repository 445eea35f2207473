#!/usr/bin/env python3
# Parses .eml files with Python's email package (an independent MIME
# parser) and prints what the suites check, one JSON object per file.

import email
import email.policy
import json
import sys


def part_text(msg, ctype):
    for part in msg.walk():
        if part.get_content_type() == ctype and not part.is_multipart():
            return part.get_content()
    return None


out = []
for path in sys.argv[1:]:
    with open(path, 'rb') as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.default)
    out.append({
        'subject': str(msg['Subject']),
        'from': str(msg['From']),
        'to': str(msg['To']),
        'cc': str(msg['Cc']) if msg['Cc'] else None,
        'bcc': str(msg['Bcc']) if msg['Bcc'] else None,
        'message_id': str(msg['Message-ID']),
        'date': str(msg['Date']) if msg['Date'] else None,
        'list_unsubscribe': str(msg['List-Unsubscribe'])
                            if msg['List-Unsubscribe'] else None,
        'list_unsubscribe_post': str(msg['List-Unsubscribe-Post'])
                                 if msg['List-Unsubscribe-Post'] else None,
        'email_id': str(msg['X-CRM-Email-Id'])
                    if msg['X-CRM-Email-Id'] else None,
        'content_type': msg.get_content_type(),
        'parts': [p.get_content_type() for p in msg.walk()
                  if not p.is_multipart()],
        'text': part_text(msg, 'text/plain'),
        'html': part_text(msg, 'text/html'),
        'defects': [type(d).__name__ for p in msg.walk() for d in p.defects],
        'long_lines': sum(1 for line in open(path, 'rb').read().split(b'\r\n')
                          if len(line) > 998),
    })

json.dump(out, sys.stdout, ensure_ascii=False)
