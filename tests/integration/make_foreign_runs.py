"""make_foreign_runs.py RUN.h5 DIR — copies of a run file whose force samples are no longer in the
file itself (DIR/external.h5: external dataset storage in DIR/external.raw; extlink.h5: an
external link to DIR/other.h5; virtual.h5: a virtual dataset over DIR/other.h5) and one with a
soft link the schema does not have (softlink.h5). Prints the dataset path that was replaced."""
import shutil
import sys

import h5py

src, out = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f:
    instrument = next(k for k in f["specimen_01"] if isinstance(f["specimen_01"][k], h5py.Group) and "force" in f["specimen_01"][k])
target = f"/specimen_01/{instrument}/force"


def copy(kind):
    path = f"{out}/{kind}.h5"
    shutil.copy(src, path)
    return path


with h5py.File(copy("external"), "r+") as f:
    d = f[target]
    data, attrs = d[...], dict(d.attrs)
    del f[target]
    data.astype("<f8").tofile(f"{out}/external.raw")
    n = f.create_dataset(target, shape=data.shape, dtype="<f8", external=[(f"{out}/external.raw", 0, data.nbytes)])
    for k, v in attrs.items():
        n.attrs[k] = v
    assert n.external and (n[...] == data).all()

with h5py.File(f"{out}/other.h5", "w") as o, h5py.File(copy("extlink"), "r+") as f:
    o.create_dataset("force", data=f[target][...])
    del f[target]
    f[target] = h5py.ExternalLink(f"{out}/other.h5", "/force")

with h5py.File(copy("virtual"), "r+") as f:
    data = f[target][...]
    del f[target]
    layout = h5py.VirtualLayout(shape=data.shape, dtype="<f8")
    layout[:] = h5py.VirtualSource(f"{out}/other.h5", "force", shape=data.shape)
    v = f.create_virtual_dataset(target, layout)
    assert v.is_virtual and (v[...] == data).all()

with h5py.File(copy("softlink"), "r+") as f:
    f["/specimen_01/alias"] = h5py.SoftLink(target)

print(target)
