"""The base of every form: WTForms' own messages in French, files only where one is expected.

Flask-WTF hands a form the uploaded files together with the text fields
(``CombinedMultiDict``), so a text field posted as a file would reach its
validators as a ``FileStorage``. Here each field reads only its own kind: the
text fields the form data, the file fields the uploads; anything else is as if
the field had not been sent, and its own validators say so in French.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.datastructures import MultiDict
from wtforms.meta import DefaultMeta

# The translations shipped with WTForms (« Le champ ne peut pas contenir plus de … »).
LOCALES = ("fr_FR", "fr")
# Fields a person never sees: their errors have no field to link to.
UNSEEN_FIELDS = ("CSRFTokenField", "HiddenField")


@dataclass(frozen=True)
class FieldError:
    """One line of a page's error summary: the field to go to, its label, its messages."""

    field_id: str
    label: str
    messages: tuple[str, ...]


class Form(FlaskForm):
    # Fields shown before the others, when a subclass adds one above its parent's fields.
    shown_first: tuple[str, ...] = ()

    class Meta(FlaskForm.Meta):
        locales = LOCALES

        def get_translations(self, form):
            # Flask-WTF's own hook needs Flask-Babel; WTForms' catalogues suffice here.
            return DefaultMeta.get_translations(self, form)

        def wrap_formdata(self, form, formdata):
            wrapped = super().wrap_formdata(form, formdata)
            if not isinstance(wrapped, CombinedMultiDict):
                return wrapped
            data = MultiDict(request.form)
            for name, field in form._fields.items():
                if isinstance(field, FileField):
                    data.setlist(name, request.files.getlist(name))
            return data

    def field_errors(self) -> list[FieldError]:
        """The errors of the visible fields, in the page's order (the error summary)."""
        first = [self[name] for name in self.shown_first]
        fields = first + [field for field in self if field.name not in self.shown_first]
        return [
            FieldError(field.id, field.label.text, tuple(str(e) for e in field.errors))
            for field in fields
            if field.errors and field.type not in UNSEEN_FIELDS
        ]
