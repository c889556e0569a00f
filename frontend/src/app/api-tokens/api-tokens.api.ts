import { HttpClient } from '@angular/common/http';
import { inject, Injectable } from '@angular/core';
import type { ApiTokenView, CreateApiTokenRequest, CreatedApiToken } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';

@Injectable({ providedIn: 'root' })
export class ApiTokensApi {
  private readonly http = inject(HttpClient);
  listOwn = () => firstValueFrom(this.http.get<ApiTokenView[]>('/api/users/me/tokens'));
  create = (body: CreateApiTokenRequest) => firstValueFrom(this.http.post<CreatedApiToken>('/api/users/me/tokens', body));
  revokeOwn = (id: string) => firstValueFrom(this.http.delete<void>(`/api/users/me/tokens/${id}`));
  listAll = () => firstValueFrom(this.http.get<ApiTokenView[]>('/api/tokens'));
  revokeAny = (id: string) => firstValueFrom(this.http.delete<void>(`/api/tokens/${id}`));
}
