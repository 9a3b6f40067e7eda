"""``smartsim.client.dataset_utils``: SmartRedis 0.6.1's ``smartredis.dataset_utils``.

``DatasetConverter.add_metadata_for_xarray`` records, in a ``Dataset``'s metadata, which
tensors are data variables and which metadata fields hold their dimensions, coordinates and
attributes (the field layout is 0.6.1's: ``_xarray_data_names``,
``_xarray_<name>_dim_names``, ``_xarray_<name>_coord_names``, ``_xarray_<name>_attr_names``,
each a comma-joined list or ``"null"``).  ``transform_to_xarray`` builds ``xarray.DataArray``
objects from them; xarray is an optional extra (``pip install smartsim-fast[xarray]``), imported
on first use.

Where 0.6.1 fails on well-formed input, this one does not: a variable described without
attributes (``"null"``) gets none (0.6.1 looks up a field named ``null``); each variable gets
the coordinates it names (0.6.1 gives every variable every coordinate variable of the
dataset, and none at all -- a ``NameError`` -- to one naming no coordinate variable); a name
listed twice is one variable.  Missing tensors or fields raise ``RedisKeyError`` as in 0.6.1.
"""
import functools
import typing as t

from .dataset import Dataset
from .errors import RedisRuntimeError
from .util import typecheck

__all__ = ["DatasetConverter", "get_data", "typecheck_stringlist"]

_NULL = "null"


def _requires_xarray(fn: t.Callable) -> t.Callable:
    @functools.wraps(fn)
    def _import_xarray(*args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            import xarray  # noqa: F401  (optional; only these calls need it)
        except ImportError as exc:
            raise RedisRuntimeError(
                "Optional package xarray must be installed; "
                "Consider running `pip install smartsim-fast[xarray]`") from exc
        return fn(*args, **kwargs)

    return _import_xarray


def get_data(dataset: Dataset, name: str, dtype: str) -> t.List[str]:
    """The field names recorded for variable ``name`` (``dtype``: dim, coord or attr)."""
    return dataset.get_meta_strings(f"_xarray_{name}_{dtype}_names")[0].split(",")


def _fields(dataset: Dataset, name: str, kind: str) -> t.List[str]:
    names = get_data(dataset, name, kind)
    return [] if names == [_NULL] else names


def typecheck_stringlist(names: t.Any, strings_name: str, string_name: str) -> None:
    """``TypeError`` unless ``names`` is a list of str."""
    typecheck(names, strings_name, list)
    for name in names:
        typecheck(name, string_name, str)


def _as_list(value: t.Any) -> t.Any:
    return [value] if isinstance(value, str) else value


class DatasetConverter:
    """Conversions between a ``Dataset`` and xarray ``DataArray`` objects."""

    @staticmethod
    def add_metadata_for_xarray(dataset: Dataset, data_names: t.Union[t.List[str], str],
                                dim_names: t.Union[t.List[str], str],
                                coord_names: t.Optional[t.Union[t.List[str], str]] = None,
                                attr_names: t.Optional[t.Union[t.List[str], str]] = None
                                ) -> None:
        """Record in ``dataset``'s metadata that each of ``data_names`` is a variable whose
        dimension names, coordinate variables and attributes are held in the metadata fields
        ``dim_names``, the tensors ``coord_names`` and the fields ``attr_names``."""
        data_names = _as_list(data_names)
        dim_names = _as_list(dim_names)
        coord_names = _as_list(coord_names)
        attr_names = _as_list(attr_names)
        typecheck(dataset, "dataset", Dataset)
        typecheck_stringlist(data_names, "data_names", "data_name")
        typecheck_stringlist(dim_names, "dim_names", "dim_name")
        if coord_names:
            typecheck_stringlist(coord_names, "coord_names", "coord_name")
        if attr_names:
            typecheck_stringlist(attr_names, "attr_names", "attr_name")
        described = (("dim_names", dim_names), ("coord_names", coord_names),
                     ("attr_names", attr_names))
        for name in data_names:
            dataset.add_meta_string("_xarray_data_names", name)
            for field, values in described:
                text = ",".join(values) if isinstance(values, list) else (values or _NULL)
                dataset.add_meta_string(f"_xarray_{name}_{field}", text)

    @staticmethod
    @_requires_xarray
    def transform_to_xarray(dataset: Dataset) -> t.Dict:
        """``{name: xarray.DataArray}`` for each data variable recorded in ``dataset`` (those
        used as another variable's coordinate become coordinates, not entries)."""
        import xarray as xr

        typecheck(dataset, "dataset", Dataset)
        names = list(dict.fromkeys(dataset.get_meta_strings("_xarray_data_names")))
        coords_of = {name: [c for c in _fields(dataset, name, "coord") if c in names]
                     for name in names}
        coordinate_vars = {c for cs in coords_of.values() for c in cs}

        def described(name: str) -> t.Tuple[t.List[str], t.Dict[str, str]]:
            dims = [dataset.get_meta_strings(f)[0] for f in _fields(dataset, name, "dim")]
            attrs = {f: dataset.get_meta_strings(f)[0] for f in _fields(dataset, name, "attr")}
            return dims, attrs

        result = {}
        for name in names:
            if name in coordinate_vars:
                continue
            dims, attrs = described(name)
            coords = {}
            for cname in coords_of[name]:
                cdims, cattrs = described(cname)
                coords[cname] = (cdims, dataset.get_tensor(cname), cattrs)
            result[name] = xr.DataArray(name=name, data=dataset.get_tensor(name),
                                        coords=coords or None, dims=dims, attrs=attrs)
        return result
