"""The bulk credit upload form: one CSV file, refused above the size cap before it is read."""

from django import forms
from django.conf import settings

from wallets.services.bulk import COLUMNS


class BulkUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", allow_empty_file=False,
        help_text=(f"UTF-8 with a header row: {', '.join(COLUMNS)} (customer_id or email, amount and currency are "
                   "required; amount in minor units, 1050 is 10.50 USD). At most "
                   f"{settings.WALLETS_BULK_MAX_BYTES // (1024 * 1024)} MB and "
                   f"{settings.WALLETS_BULK_MAX_ROWS:,} rows."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        cap = settings.WALLETS_BULK_MAX_BYTES
        if upload.size > cap:
            raise forms.ValidationError(
                f"The file is {upload.size / (1024 * 1024):.1f} MB; the largest accepted is "
                f"{cap / (1024 * 1024):.1f} MB. Split it into smaller files.")
        return upload

    def data_bytes(self) -> bytes:
        upload = self.cleaned_data["file"]
        upload.seek(0)
        return upload.read()
