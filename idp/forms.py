"""The base of every form: WTForms' own messages in French, files only where one is expected.

Flask-WTF hands a form the uploaded files together with the text fields
(``CombinedMultiDict``), so a text field posted as a file would reach its
validators as a ``FileStorage``. Here each field reads only its own kind: the
text fields the form data, the file fields the uploads; anything else is as if
the field had not been sent, and its own validators say so in French.
"""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.datastructures import MultiDict
from wtforms.meta import DefaultMeta

# The translations shipped with WTForms (« Le champ ne peut pas contenir plus de … »).
LOCALES = ("fr_FR", "fr")


class Form(FlaskForm):
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
