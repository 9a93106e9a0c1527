"""Python classes of proto/edge/v1 for the benchmark scripts, generated into a temp dir."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gen_stubs(dest):
    """Generates the edge.v1 messages and gRPC stubs into dest and makes them importable."""
    subprocess.run([sys.executable, '-m', 'grpc_tools.protoc', '-I', os.path.join(ROOT, 'proto'),
                    '--python_out=' + dest, '--grpc_python_out=' + dest]
                   + [os.path.join(ROOT, 'proto/edge/v1', f) for f in
                      ('resources.proto', 'admin.proto', 'config.proto')], check=True)
    sys.path.insert(0, dest)
